/**
 * `ipid keys export <name> [file] --key <fragment>`: one key of the DID document in a standard format (a JWK, or
 * PEM), for another wallet — a did-jwt signer, Veramo's key manager, anything that reads RFC 8037 or PKCS#8.
 *
 * The key is read where it is kept: the sealed key file in the data directory, opened here with the passphrase
 * (`openKey`). It never crosses HTTP: the admin API hands out sealed files only. So this runs on the daemon's
 * machine, with no daemon needed.
 *
 * What may leave: the keys the document lists (`auth-N`). The root key and the update keys never leave in plain
 * text — whoever holds them can publish records for the DID, or rewrite its document; no wallet signs with them;
 * and the sealed backup (`ipid keys export <name> FILE`) and cold key file (`ipid keys cold`) already move them,
 * in formats spec/key-formats.md describes.
 *
 * A private key is written only after a confirmation (the fragment typed on a terminal, or `--yes`), to a file
 * created 0600 (never replaced without `--force`), or to stdout when that is not a terminal (a pipe, or a file,
 * which is then made 0600 first). Nothing private is printed anywhere else: the `--json` result describes the
 * key, and a private key needs a FILE then. `--public` needs neither passphrase nor confirmation.
 */
import { existsSync, fchmodSync, fstatSync, realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { exportPrivateKey, exportPublicKey, keyBytesOf } from '../sign/key-export.ts'
import { dataDirOf } from '../shared-constants.ts'
import { FailedError, UsageError } from './errors.ts'
import { fields } from './output.ts'
import { confirmByTyping } from './prompt.ts'
import { passphraseFor } from './commands/shared.ts'
import type { Output } from './output.ts'
import type { KeyExportFormat } from '../sign/key-export.ts'
import type { IdentityFile } from '../identity/identities.ts'
import type { CommonFlags } from './commands/shared.ts'

export interface KeyExportFlags extends CommonFlags {
  key?: string
  format?: KeyExportFormat
  public?: boolean
  encrypt?: boolean
  yes?: boolean
  force?: boolean
}

/** The flags that only a single-key export takes, as they are spelled. */
export const SINGLE_KEY_FLAGS: ReadonlyArray<[keyof KeyExportFlags, string]> = [['format', '--format'], ['public', '--public'], ['encrypt', '--encrypt'], ['yes', '--yes']]

/** Keys an identity holds that are not in its document, by fragment or key file name: never exported in plain text. */
const HELD_KEYS: ReadonlyArray<{ match: RegExp, what: string, instead: (name: string) => string }> = [
  {
    match: /^root$/,
    what: 'the root key: whoever holds it can publish records for the DID',
    instead: name => `\`ipid keys export ${name} FILE\` writes a backup with every key sealed under the passphrase`
  },
  {
    match: /^(update|next)(-\d+)?$/,
    what: 'an update key: whoever holds it can rewrite the document',
    instead: name => `\`ipid keys cold ${name}\` moves the update keys into a file sealed under the passphrase`
  }
]

/** Exports one key of `name` (see the module comment); the result goes to `out`. */
export async function exportDocumentKey (name: string, file: string | undefined, flags: KeyExportFlags, out: Output): Promise<void> {
  const format = flags.format ?? 'jwk'
  const isPublic = flags.public === true
  const encrypt = flags.encrypt === true
  if (encrypt && (isPublic || format !== 'pem')) {
    throw new UsageError('bad_options', '--encrypt applies to a private key in --format pem (a JWK has no encrypted form; a public key needs none)')
  }
  if (flags.api !== undefined) {
    throw new UsageError('bad_options', '--api: a key is read from the key files of the data directory, never over HTTP; run ipid on the daemon\'s machine with its --data-dir')
  }
  const target = file === undefined ? undefined : resolve(file)
  checkDestination(target, isPublic, flags, out)

  const dataDir = dataDirOf(flags.dataDir)
  const identity = await identityOf(dataDir, name)
  const spec = documentKey(identity, flags.key ?? '')
  const keyId = `${identity.did}#${spec.fragment}`
  const summary = { name, did: identity.did, keyId, fragment: spec.fragment, format, public: isPublic, encrypted: encrypt, publicKeyMultibase: spec.publicKey }
  const { multikeyToEd25519 } = await import('../did/keys.ts')
  const publicKey = multikeyToEd25519(spec.publicKey)
  if (publicKey === undefined) throw new FailedError('corrupt_identity', `the identity file of ${name} names #${spec.fragment} with a key that is not Ed25519`)

  let payload: string
  if (isPublic) {
    payload = exportPublicKey(publicKey.raw, { format, kid: keyId })
  } else {
    if (flags.yes !== true) await confirm(name, keyId, spec.fragment, target, encrypt)
    const passphrase = await passphraseFor(flags, name)
    const key = await out.spin(`unlocking #${spec.fragment}…`, async () => openDocumentKey(dataDir, identity, spec, passphrase))
    payload = await exportPrivateKey(keyBytesOf(key), { format, kid: keyId, ...(encrypt ? { passphrase } : {}) })
  }

  if (target === undefined) {
    const shown = out.json ? { ...summary, key: format === 'jwk' ? JSON.parse(payload) as unknown : payload } : summary
    out.result(shown, () => payload.trimEnd())
    if (!isPublic) out.note(`private key ${keyId} written to stdout${encrypt ? ', encrypted under the passphrase' : ''}`)
    return
  }
  const { writeFileAtomic } = await import('../identity/keystore.ts')
  // Through a symbolic link to the file it names (the link stays).
  writeFileAtomic(existsSync(target) ? realpathSync(target) : target, payload)
  const kind = `${format === 'jwk' ? 'JWK' : isPublic ? 'SPKI PEM' : encrypt ? 'encrypted PKCS#8 PEM' : 'PKCS#8 PEM'}, mode 0600`
  out.result({ ...summary, file: target }, style => [
    `${style.green('✓')} ${isPublic ? 'public' : 'private'} key #${spec.fragment} of ${style.bold(name)} written to ${style.bold(target)} (${kind})`,
    ...fields([['DID', identity.did], ['key', keyId], ['public key', spec.publicKey]], style),
    ...(isPublic
      ? []
      : [
          `Whoever reads this file${encrypt ? ' and knows the passphrase' : ''} can sign as ${name} with #${spec.fragment}: import it into the other wallet, then delete it.`,
          `If it is ever exposed, replace the key: ipid key rotate ${name}`
        ])
  ])
}

/** The file must be new (or --force); private key material goes to no terminal, and with --json to a file only. */
function checkDestination (target: string | undefined, isPublic: boolean, flags: KeyExportFlags, out: Output): void {
  if (target !== undefined) {
    if (existsSync(target) && flags.force !== true) throw new UsageError('file_exists', `${target} already exists: choose another file, or pass --force`)
    return
  }
  if (isPublic) return
  if (out.json) throw new UsageError('file_needed', 'with --json stdout carries the JSON result: give the FILE to write the private key to')
  if (process.stdout.isTTY) {
    throw new UsageError('terminal_output', 'a private key is not printed on a terminal (it would stay in the scrollback): give a FILE, or redirect stdout to a file or a program')
  }
  // `> key.jwk`: the shell made the file with the umask's mode; it is made 0600 before anything is written.
  if (fstatSync(process.stdout.fd).isFile()) {
    try {
      fchmodSync(process.stdout.fd, 0o600)
    } catch (err) {
      throw new FailedError('stdout_mode', `stdout is a file that cannot be made 0600 (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give a FILE instead`)
    }
  }
}

async function identityOf (dataDir: string, name: string): Promise<IdentityFile> {
  const { readIdentityFile } = await import('../identity/identities.ts')
  let identity: IdentityFile
  try {
    identity = readIdentityFile(dataDir, name)
  } catch (err) {
    if ((err as { reason?: unknown }).reason === 'unknown_identity') {
      throw new FailedError('unknown_identity', `no identity named "${name}" in ${dataDir}: \`ipid ls\` lists the identities; pass the daemon's --data-dir`)
    }
    throw readFailure(err, `the identity file of ${name}`)
  }
  if (identity.deactivated) throw new FailedError('deactivated', `${name} (${identity.did}) is deactivated: its document lists no keys`)
  return identity
}

/** The document key `--key` names: `auth-1`, `#auth-1` or its DID URL. The root and update keys are refused. */
function documentKey (identity: IdentityFile, given: string): IdentityFile['keys']['auth'][number] {
  const hash = given.indexOf('#')
  if (hash > 0 && given.slice(0, hash) !== identity.did) {
    throw new UsageError('wrong_did', `--key ${given} is a key of another DID than ${identity.name}'s (${identity.did})`)
  }
  const fragment = given.slice(hash + 1)
  const held = HELD_KEYS.find(h => h.match.test(fragment))
  if (held !== undefined) {
    throw new UsageError('not_exportable', `#${fragment} is ${held.what}; it is not in the document, and never exported in plain text: ${held.instead(identity.name)} (spec/key-formats.md tells how to open it)`)
  }
  const spec = identity.keys.auth.find(k => k.fragment === fragment)
  if (spec === undefined) {
    throw new FailedError('unknown_key', `${identity.name} has no key #${fragment} in its document (it has ${identity.keys.auth.map(k => `#${k.fragment}`).join(', ') || 'none'}): \`ipid show ${identity.name}\` lists them`)
  }
  return spec
}

async function confirm (name: string, keyId: string, fragment: string, target: string | undefined, encrypt: boolean): Promise<void> {
  const intro = [
    `This writes the private key ${keyId} of ${name}${encrypt ? ', encrypted under the passphrase,' : ' in plain text'} ${target === undefined ? 'to stdout' : `to ${target}`}.`,
    `Whoever reads it${encrypt ? ' and knows the passphrase' : ''} can sign as ${name} (log in, sign statements) until the key is rotated.`,
    ''
  ].join('\n')
  if (!await confirmByTyping(intro, `Type the key's fragment (${fragment}) to confirm: `, fragment, '--yes')) {
    throw new FailedError('not_confirmed', 'the fragment typed does not match: nothing was written')
  }
}

/** Opens the sealed key file of a document key, and checks it is the key identity.json names. */
async function openDocumentKey (dataDir: string, identity: IdentityFile, spec: IdentityFile['keys']['auth'][number], passphrase: string) {
  const [{ keyFilePath }, { openKey, readKeyFile }, { ed25519ToMultikey }] = await Promise.all([
    import('../identity/identities.ts'), import('../identity/keystore.ts'), import('../did/keys.ts')
  ])
  let sealed: unknown
  try {
    sealed = readKeyFile(keyFilePath(dataDir, identity.name, spec.file))
  } catch (err) {
    throw readFailure(err, `the key file of #${spec.fragment}`)
  }
  const key = await openKey(sealed, passphrase)
  if (ed25519ToMultikey(key.publicKey) !== spec.publicKey) {
    throw new FailedError('key_mismatch', `the key file of #${spec.fragment} holds another key than the document lists: restore ${identity.name} from a backup`)
  }
  return key
}

/** A file that cannot be read: missing, or another user's (run as the daemon's user); keystore errors pass. */
function readFailure (err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return new FailedError('missing_key', `${what} is not in the data directory (${(err as Error).message})`)
  if (code === 'EACCES' || code === 'EPERM') return new FailedError('unreadable', `cannot read ${what} (${code}): run ipid as the user the daemon runs as`)
  return err
}
