/**
 * `ipid key rotate|add|rm`: the document's authentication and assertion keys. `ipid keys export|import|cold`:
 * encrypted backups, one document key in a standard format (`export --key`, key-export.ts), and moving the update
 * keys off the daemon.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { resolve } from 'node:path'
import { Option } from 'commander'
import { CHANGE_TIMEOUT_MS } from '../api.ts'
import { KEY_EXPORT_FORMATS } from '../../sign/key-export.ts'
import { FailedError, UsageError } from '../errors.ts'
import { SINGLE_KEY_FLAGS } from '../key-export.ts'
import { fields } from '../output.ts'
import { applyChange, changeLines, changeable, detailOf, enc } from './change.ts'
import { adminOf, common, examples, identityName, namedIdentity, passphraseFor, run, updateKeyOption, withNameArgument } from './shared.ts'
import type { Command } from 'commander'
import type { ChangeFlags } from './change.ts'
import type { IdentitySummary } from '../../identity/identities.ts'
import type { CommonFlags } from './shared.ts'
import type { KeyExportFlags } from '../key-export.ts'

/** `--purpose` values and the verification relationships they stand for. */
export const PURPOSES: Readonly<Record<string, string>> = { authentication: 'authentication', assertion: 'assertionMethod' }
/** Largest backup file read. */
const MAX_BACKUP_FILE_BYTES = 512 * 1024

const purposeOption = (description: string): Option => new Option('--purpose <purpose>', description).choices(Object.keys(PURPOSES))

export function register (program: Command): void {
  const key = examples(program.command('key').description('the keys in the DID document: rotate, add, remove'), [
    'ipid key rotate alice',
    'ipid key add alice --purpose assertion',
    'ipid key rm auth-1 --name alice',
    'ipid key rotate alice --update-key ./alice.update-keys.json'
  ], ['Each change publishes a new version and prints it; `ipid key <command> --help` tells more.'])

  examples(withNameArgument(updateKeyOption(common(key.command('rotate'), { passphrase: true })))
    .description('replace a key by a new one with the same purposes (e.g. after losing a laptop)')
    .addOption(purposeOption('which key: the first one used for this (default authentication)'))
    .action(run<ChangeFlags & { name?: string, purpose?: string }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'key rotate')
      const detail = await changeable(admin, name, flags)
      const purpose = PURPOSES[flags.purpose ?? 'authentication']!
      const result = await applyChange(admin, detail, flags, out, { method: 'POST', path: '/keys/rotate', body: { purpose }, doing: `rotating the ${flags.purpose ?? 'authentication'} key of ${name}` })
      out.result(result, style => changeLines(`${style.bold(name)}: ${flags.purpose ?? 'authentication'} key rotated: ${result.removed.map(f => `#${f}`).join(', ')} → ${result.added.map(f => `#${f}`).join(', ')}`, result, style))
    })), [
    'ipid key rotate',
    'ipid key rotate alice --purpose assertion',
    'ipid key rotate alice --update-key ./alice.update-keys.json --json'
  ], ['Publishes a new version; resolvers see the new key at once, and the history keeps the old one.'])

  examples(withNameArgument(updateKeyOption(common(key.command('add'), { passphrase: true })))
    .description('add a new key to the document')
    .addOption(new Option('--purpose <purpose>', 'what the key is for, repeatable (default both)').choices(Object.keys(PURPOSES)).argParser((v: string, prev: string[] = []) => [...prev, v]))
    .action(run<ChangeFlags & { name?: string, purpose?: string[] }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'key add')
      const detail = await changeable(admin, name, flags)
      const purposes = flags.purpose === undefined ? undefined : [...new Set(flags.purpose.map(p => PURPOSES[p]!))]
      const result = await applyChange(admin, detail, flags, out, { method: 'POST', path: '/keys', body: purposes === undefined ? {} : { purposes }, doing: `adding a key to ${name}` })
      out.result(result, style => changeLines(`${style.bold(name)}: key ${result.added.map(f => `#${f}`).join(', ')} added`, result, style))
    })), ['ipid key add', 'ipid key add alice --purpose assertion'])

  examples(updateKeyOption(common(key.command('rm'), { passphrase: true }))
    .description('remove a key from the document')
    .argument('<fragment>', 'the key, e.g. auth-1 (see `ipid show`)')
    .option('-n, --name <name>', 'the identity (default: the only one held)')
    .action(run<ChangeFlags & { name?: string }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const fragment = args[0]!.replace(/^.*#/, '')
      const name = await identityName(admin, flags.name, `key rm ${fragment} --name`)
      const detail = await changeable(admin, name, flags)
      if (!detail.keys.some(k => k.fragment === fragment)) throw new FailedError('unknown_key', `${name} has no key #${fragment}: \`ipid show ${name}\` lists its keys`)
      const result = await applyChange(admin, detail, flags, out, { method: 'DELETE', path: `/keys/${enc(fragment)}`, doing: `removing #${fragment} from ${name}` })
      out.result(result, style => changeLines(`${style.bold(name)}: key #${fragment} removed`, result, style))
    })), ['ipid key rm auth-1', 'ipid key rm auth-2 --name alice'])

  const keys = examples(program.command('keys').description('backups and cold storage of an identity\'s keys'), [
    'ipid keys export alice ./alice.backup.json',
    'ipid keys import ./alice.backup.json',
    'ipid keys cold alice --out /media/usb/alice.update-keys.json'
  ], ['`ipid keys <command> --help` tells more.'])

  examples(common(keys.command('export'), { passphrase: true })
    .description('write an encrypted backup of an identity (its keys stay sealed under the passphrase); with --key, one document key as a JWK or PEM')
    .argument('<name>', 'the identity')
    .argument('[file]', 'where to write the backup or key (created 0600); with --key it may be left out for stdout, never a terminal')
    .option('-f, --force', 'replace the file if it exists')
    .option('-k, --key <fragment>', 'export this key of the document alone (e.g. auth-1), for another wallet')
    .addOption(new Option('--format <format>', 'with --key: jwk (RFC 8037, the default) or pem (PKCS#8; SPKI with --public)').choices(KEY_EXPORT_FORMATS))
    .option('--public', 'with --key: the public key alone (no passphrase, no confirmation)')
    .option('--encrypt', 'with --key --format pem: encrypt the key under the passphrase (PKCS#8 PBES2)')
    .option('-y, --yes', 'with --key: do not ask to type the fragment (scripts)')
    .action(run<KeyExportFlags>(async ({ args, flags, out }) => {
      const name = args[0]!
      if (flags.key !== undefined) {
        const { exportDocumentKey } = await import('../key-export.ts')
        await exportDocumentKey(name, args[1], flags, out)
        return
      }
      const single = SINGLE_KEY_FLAGS.filter(([flag]) => flags[flag] !== undefined).map(([, spelled]) => spelled)
      if (single.length > 0) throw new UsageError('key_needed', `${single.join(', ')} ${single.length === 1 ? 'applies' : 'apply'} to one key: add --key FRAGMENT (e.g. --key auth-1)`)
      if (args[1] === undefined) throw new UsageError('file_needed', `give the file to write the backup to: \`ipid keys export ${name} ./${name}.backup.json\``)
      const file = resolve(args[1])
      if (existsSync(file) && flags.force !== true) throw new UsageError('file_exists', `${file} already exists: choose another file, or pass --force`)
      const admin = await adminOf(flags)
      const detail = await detailOf(admin, name)
      const passphrase = await passphraseFor(flags, name)
      const backup = await out.spin(`backing up ${name}…`, async () => admin.call<Record<string, unknown>>('POST', `/identities/${enc(name)}/backup`, { passphrase }, CHANGE_TIMEOUT_MS))
      const { writeFileAtomic } = await import('../../identity/keystore.ts')
      // Through a symbolic link to the file it names (the link stays).
      writeFileAtomic(existsSync(file) ? realpathSync(file) : file, `${JSON.stringify(backup, null, 2)}\n`)
      out.result({ name, did: detail.did, file, updateKeysIncluded: detail.updateKeys === 'daemon' }, style => [
        `${style.green('✓')} backup of ${style.bold(name)} written to ${style.bold(file)} (mode 0600)`,
        ...fields([['DID', detail.did], ['version', `${detail.version}  ${detail.versionId}`]], style),
        'Its keys are sealed under the passphrase: the backup is useless without it, and so is the passphrase without a backup.',
        ...(detail.updateKeys === 'cold' ? [style.yellow('The update keys are not in it: they are in the cold key file. Keep both.')] : [])
      ])
    })), [
    'ipid keys export alice ./alice.backup.json',
    'ipid keys export alice ./alice-auth-1.jwk --key auth-1',
    'ipid keys export alice ./alice-auth-1.pem --key auth-1 --format pem --encrypt',
    'ipid keys export alice --key auth-1 --public --format pem',
    'ipid keys export alice --key auth-1 --yes --passphrase-file ./pass | wallet-import'
  ], [
    'With --key, the key of the DID document named by its fragment leaves in a standard format for another wallet',
    '(a did-jwt signer, Veramo): a JWK (OKP/Ed25519, kid = its DID URL) or PKCS#8 PEM. You type the fragment to',
    'confirm. The root and update keys never leave in plain text. The formats: spec/key-formats.md.'
  ])

  examples(common(keys.command('import'), { passphrase: true })
    .description('restore an identity from a backup written by `ipid keys export`')
    .argument('<file>', 'the backup')
    .option('-n, --name <name>', 'restore it under another name')
    .action(run<CommonFlags & { name?: string }>(async ({ args, flags, out }) => {
      const file = resolve(args[0]!)
      const backup = readBackup(file)
      const admin = await adminOf(flags)
      const subject = flags.name ?? String((backup.identity as { name?: unknown } | undefined)?.name ?? 'the backup')
      const passphrase = await passphraseFor(flags, subject)
      const restored = await out.spin('restoring…', async () => admin.call<IdentitySummary>('POST', '/backups', { backup, passphrase, ...(flags.name === undefined ? {} : { name: flags.name }) }, CHANGE_TIMEOUT_MS))
      // A backup older than what the network holds must not be changed from: its next version would fork the history.
      const { resolveThrough } = await import('./resolve.ts')
      const current = await resolveThrough(admin.target, restored.did, {}).catch(() => undefined)
      const networkVersionId = current?.didDocumentMetadata.versionId
      const behind = typeof networkVersionId === 'string' && networkVersionId !== restored.versionId
      if (behind) out.warn(`the network holds a newer version of ${restored.did} (${networkVersionId}) than this backup (${restored.versionId}): changes from this copy would fork its history; restore a newer backup`)
      out.result({ ...restored, ...(typeof networkVersionId === 'string' ? { networkVersionId } : {}) }, style => [
        `${style.green('✓')} restored ${style.bold(restored.name)}`,
        ...fields([['DID', restored.did], ['version', `${restored.version}  ${restored.versionId}`]], style)
      ])
    })), ['ipid keys import ./alice.backup.json', 'ipid keys import ./alice.backup.json --name alice2'])

  examples(withNameArgument(common(keys.command('cold'), { passphrase: true }))
    .description('move the update keys off the daemon into a file you keep offline; changes then need --update-key FILE')
    .option('-o, --out <file>', 'where to write them (default ./<name>.update-keys.json; created 0600)')
    .action(run<CommonFlags & { name?: string, out?: string }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'keys cold')
      const file = resolve(flags.out ?? `${name}.update-keys.json`)
      const detail = await detailOf(admin, name)
      if (detail.deactivated) throw new FailedError('deactivated', `${name} is deactivated: it has no update keys any more`)
      if (detail.updateKeys === 'cold') throw new FailedError('cold', `the update keys of ${name} are already in cold storage: changes take --update-key FILE`)
      if (existsSync(file)) throw new UsageError('file_exists', `${file} already exists: choose another --out, or move that file away first`)
      const passphrase = await passphraseFor(flags, name)
      const cold = await import('../cold-keys.ts')
      const exported = await admin.call<{ format: string, name: string, did: string, keys: Array<{ publicKey: string }> }>('POST', `/identities/${enc(name)}/update-keys/export`, { passphrase }, CHANGE_TIMEOUT_MS)
      if (exported.did !== detail.did) throw new FailedError('bad_answer', 'the daemon exported the keys of another identity: nothing was moved')
      cold.createColdFile(file, exported as never)
      let after: { coldSigner?: string }
      try {
        after = await admin.call<{ coldSigner?: string }>('POST', `/identities/${enc(name)}/update-keys/cold`, { passphrase, publicKeys: exported.keys.map(k => k.publicKey) }, CHANGE_TIMEOUT_MS)
      } catch (err) {
        // Refused (4xx): the daemon still holds its keys, the file is a spare copy. Otherwise it may have deleted them.
        if (cold.refusedBeforeChange(err)) throw err
        out.warn(`the outcome is unknown: the daemon may already have deleted its update keys of ${name}; keep ${file}, it may be their only copy (\`ipid show ${name}\` tells whether they are cold)`)
        throw cold.outcomeUnknown(err)
      }
      out.result({ name, did: detail.did, file, coldSigner: after.coldSigner }, style => [
        `${style.green('✓')} the update keys of ${style.bold(name)} moved to ${style.bold(file)} (mode 0600); the daemon no longer has them`,
        ...fields([['DID', detail.did], ['signer', after.coldSigner]], style),
        'Keep that file offline. Every change now needs it, and rewrites it with the next key: always keep the latest copy.',
        `  $ ipid key rotate ${name} --update-key ${file}`
      ])
    })), ['ipid keys cold', 'ipid keys cold alice --out /media/usb/alice.update-keys.json'], [
    'The update keys sign every new version of the document. Without them on the daemon, someone who takes over the',
    'daemon (or its passphrase) cannot change the identity.'
  ])
}

function readBackup (file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError('bad_backup', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (text.length > MAX_BACKUP_FILE_BYTES) throw new UsageError('bad_backup', `${file} is too large to be an ipidd backup`)
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { format?: unknown }).format === 'ipidd-backup/1') return value as Record<string, unknown>
  } catch {}
  throw new UsageError('bad_backup', `${file} is not an ipidd backup (written by \`ipid keys export\`)`)
}
