/**
 * Constants and small pure rules that the daemon and the `ipid` command line share. There is one definition of
 * each, here: the keystore, the identities, the admin token and the configuration take theirs from this module,
 * and so does the CLI. It imports nothing but Node built-ins, so the CLI can check a name or a passphrase, or
 * find the data directory, without loading the keystore, zod or libp2p. Keep it that way: no project imports.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Identity names: short, safe as folder names. */
export const IDENTITY_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/

/** Passphrases that seal key files: shorter ones are refused as weak, longer ones as abuse. */
export const MIN_PASSPHRASE_LENGTH = 8
export const MAX_PASSPHRASE_LENGTH = 1024

/** scrypt cost exponents a key file may ask for: less is too weak, more is a memory bomb. */
export const MIN_SCRYPT_LOG_N = 12
export const MAX_SCRYPT_LOG_N = 20

/** The largest payload a detached JWS is made over (src/sign/jws.ts): a post, or a small file; larger files, their hash. */
export const MAX_JWS_PAYLOAD_BYTES = 1024 * 1024

/** The admin API's bearer token, in the data directory (src/http/admin-token.ts). */
export const ADMIN_TOKEN_FILE = 'admin.token'
/** The running daemon's HTTP URL, written when it listens and removed when it stops, so that `ipid` finds it. */
export const ADMIN_URL_FILE = 'api.url'

/** The data directory when neither a flag, `IPIDD_DATA` nor a config file names one: `~/.ipidd`. */
export function defaultDataDir (env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME ?? homedir(), '.ipidd')
}

/** The data directory, absolute: the flag, else `$IPIDD_DATA` (unless empty), else `defaultDataDir`. */
export function dataDirOf (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.IPIDD_DATA === '' ? undefined : env.IPIDD_DATA
  return resolve(flag ?? fromEnv ?? defaultDataDir(env))
}
