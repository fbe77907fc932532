/**
 * The cold key file, on the owner's side: the update keys `ipid keys cold` moved off the daemon, each sealed
 * under the identity's passphrase (format `ipidd-update-keys/1`, written atomically with mode 0600).
 *
 * A change with cold keys, under pre-rotation (every version commits to the key that signs the next one):
 * 1. the key that signs is the one whose public key the daemon names (`coldSigner`); an older copy of the file
 *    does not hold it, and is refused before anything is sent;
 * 2. the new next key is generated here, sealed under the passphrase with the signer's key-derivation cost, and
 *    written into the file next to the signer *before* the daemon is asked — so whatever happens to the answer,
 *    the key the new version commits to is already on the owner's disk;
 * 3. the daemon signs with the signer (opened for this request only) and commits to the new key's public key;
 * 4. on success the file is rewritten to hold the new key alone (the signer is spent: it is published, and a
 *    committed key can sign only once); on a refusal (4xx: nothing changed) the file is restored; when the outcome
 *    is unknown (no answer, 5xx) both keys stay, and the next change picks the right one by `coldSigner`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { COLD_KEYS_FORMAT, MAX_COLD_KEYS } from '../identity/identities.ts'
import { sealKey, writeFileAtomic } from '../identity/keystore.ts'
import { CHANGE_TIMEOUT_MS } from './api.ts'
import { CliError, FailedError, UsageError } from './errors.ts'
import type { AdminClient } from './api.ts'
import type { ColdKeys } from '../identity/identities.ts'
import type { KeyFile } from '../identity/keystore.ts'

/** Largest cold key file read: a few sealed keys. */
export const MAX_COLD_FILE_BYTES = 64 * 1024

/** What a change needs to know of the identity (from `GET /identities/{name}`). */
export interface ColdDetail {
  name: string
  did: string
  prerotation: boolean
  coldSigner?: string
}

export function readColdFile (path: string, expectedDid?: string): ColdKeys {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError('bad_update_key', `cannot read the cold key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (text.length > MAX_COLD_FILE_BYTES) throw new UsageError('bad_update_key', `${path} is too large to be a cold key file`)
  let file: Partial<ColdKeys> | undefined
  try {
    file = JSON.parse(text) as Partial<ColdKeys>
  } catch {}
  const keys = file?.keys
  if (file?.format !== COLD_KEYS_FORMAT || typeof file.did !== 'string' || typeof file.name !== 'string' || !Array.isArray(keys) ||
    keys.length === 0 || keys.length > MAX_COLD_KEYS * 2 || !keys.every(k => typeof k === 'object' && k !== null && typeof (k as { publicKey?: unknown }).publicKey === 'string')) {
    throw new UsageError('bad_update_key', `${path} is not a cold key file (written by \`ipid keys cold\`)`)
  }
  if (expectedDid !== undefined && file.did !== expectedDid) {
    throw new UsageError('bad_update_key', `${path} holds the update keys of ${file.did}, not of ${expectedDid}`)
  }
  return file as ColdKeys
}

export function writeColdFile (path: string, file: ColdKeys): void {
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`)
}

/** Writes a new cold key file; refuses to replace an existing one. */
export function createColdFile (path: string, file: ColdKeys): void {
  if (existsSync(path)) throw new UsageError('file_exists', `${path} already exists: choose another --out, or move that file away first`)
  writeColdFile(path, file)
  const back = readColdFile(path, file.did)
  if (JSON.stringify(back.keys) !== JSON.stringify(file.keys)) throw new FailedError('write_failed', `${path} does not read back as written: nothing was moved`)
}

export interface ColdChange {
  admin: AdminClient
  detail: ColdDetail
  /** The cold key file's path. */
  path: string
  passphrase: string
  method: string
  /** The admin path of the change, and its body without passphrase and updateKey. */
  apiPath: string
  body: Record<string, unknown>
  /** Whether the new version commits to a next key (pre-rotation, and not a deactivation). */
  needsNext: boolean
  /** Told when the outcome is unknown and the file holds both keys. */
  warn: (text: string) => void
}

/** Runs a change signed by the cold update key, keeping the cold key file right whatever the outcome. */
export async function coldChange<T> (change: ColdChange): Promise<T> {
  const { admin, detail, path, passphrase } = change
  const file = readColdFile(path, detail.did)
  const signer = file.keys.find(k => k.publicKey === detail.coldSigner)
  if (signer === undefined) {
    throw new FailedError('wrong_update_key', `${path} does not hold the update key that signs the next version of ${detail.name} (${detail.coldSigner ?? 'unknown'}): it is an older copy; use the latest one`)
  }
  let next: KeyFile | undefined
  if (change.needsNext) {
    const key = await generateKeyPair('Ed25519')
    next = await sealKey(key, 'update', passphrase, { logN: signer.kdf.logN })
    // Stored before the daemon commits to it.
    writeColdFile(path, { ...file, keys: [...file.keys, next] })
  }
  const updateKey = { signer, ...(next === undefined ? {} : { next: next.publicKey }) }
  let result: T
  try {
    result = await admin.call<T>(change.method, change.apiPath, { ...change.body, passphrase, updateKey }, CHANGE_TIMEOUT_MS)
  } catch (err) {
    if (next !== undefined) {
      // A 4xx answer is a refusal before anything changed; anything else may have come after the publish.
      const refused = err instanceof CliError && err.httpStatus !== undefined && err.httpStatus >= 400 && err.httpStatus < 500
      if (refused) writeColdFile(path, file)
      else change.warn(`the outcome is unknown: ${path} now holds both the old and the new update key; keep it as it is (\`ipid show ${detail.name}\` tells which one signs next)`)
    }
    throw err
  }
  if (next !== undefined) writeColdFile(path, { ...file, keys: [next] })
  return result
}
