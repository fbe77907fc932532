/** `ipid init`, `ipid ls`, `ipid show`, `ipid deactivate`: the identities a daemon holds. */
import { IDENTITY_NAME_RE } from '../../shared-constants.ts'
import { CHANGE_TIMEOUT_MS } from '../api.ts'
import { FailedError, UsageError } from '../errors.ts'
import { fields, table } from '../output.ts'
import { askYesNo, confirmByTyping } from '../prompt.ts'
import { applyChange, changeLines, changeable, detailOf } from './change.ts'
import { resolveThrough } from './resolve.ts'
import { adminOf, common, examples, namedIdentity, passphraseFor, run, updateKeyOption, withNameArgument } from './shared.ts'
import type { Command } from 'commander'
import type { ChangeFlags } from './change.ts'
import type { DamagedIdentity, IdentitySummary } from '../../identity/identities.ts'
import type { DaemonStatus } from '../../http/admin.ts'
import type { CommonFlags } from './shared.ts'

/** The name `ipid init` gives when none is given. */
export const DEFAULT_IDENTITY_NAME = 'default'

export function register (program: Command): void {
  examples(common(program.command('init'), { passphrase: true })
    .description('create an identity (a new did:ipid) and publish its first version')
    .option('-n, --name <name>', `its name on this daemon: lowercase letters, digits, - and _ (default "${DEFAULT_IDENTITY_NAME}")`)
    .option('--didauth', 'prove this identity to peers over DIDAuth from now on (the first identity made is proved until then)')
    .option('--peer-service', 'list this daemon\'s PeerId in the document (#libp2p): peers can find it, but it links every identity that lists it')
    .action(run<CommonFlags & { name?: string, didauth?: boolean, peerService?: boolean }>(async ({ flags, out }) => {
      const name = flags.name ?? DEFAULT_IDENTITY_NAME
      if (!IDENTITY_NAME_RE.test(name)) throw new UsageError('bad_name', `"${name}" is not a valid name: use 1–63 lowercase letters, digits, - or _, starting with a letter or digit`)
      const admin = await adminOf(flags)
      // Reachable, the token right, the name free: all checked before a passphrase is chosen.
      const { identities } = await admin.get<{ identities: IdentitySummary[] }>('/identities')
      if (identities.some(i => i.name === name)) throw new FailedError('exists', `an identity named "${name}" already exists (${identities.find(i => i.name === name)!.did}): choose another --name`)
      // A second identity: which one proves this daemon over DIDAuth? Asked on a terminal; else the first stays.
      let didauth = flags.didauth === true
      if (!didauth && !out.json && identities.some(i => !i.deactivated) && process.stdin.isTTY) {
        const proves = await admin.get<DaemonStatus>('/status').then(status => status.didauth?.identity ?? null, () => null)
        if (proves !== null) didauth = await askYesNo(`This daemon proves ${proves} to peers over DIDAuth. Prove ${name} instead? [y/N] `)
      }
      const passphrase = await passphraseFor(flags, name, true)
      const body = { name, passphrase, ...(didauth ? { didauth: true } : {}), ...(flags.peerService === true ? { peerService: true } : {}) }
      const created = await out.spin(`creating ${name} and publishing its first version…`, async () =>
        admin.call<IdentitySummary & { didauth?: { identity: string | null, unlocked: boolean } }>('POST', '/identities', body, CHANGE_TIMEOUT_MS))
      const proves = created.didauth?.identity
      out.result(created, style => [
        `${style.green('✓')} created ${style.bold(created.name)}`,
        ...fields([['DID', style.bold(created.did)], ['version', `${created.version}  ${created.versionId}`]], style),
        ...(proves === undefined || identities.length === 0
          ? []
          : [proves === created.name ? `DIDAuth now proves ${created.name} to peers.` : `DIDAuth still proves ${proves ?? 'no identity'}: \`ipid didauth ${created.name}\` to prove ${created.name} instead.`]),
        '',
        'Share the DID. Keep the passphrase: without it this identity cannot change.',
        `Back it up with \`ipid keys export ${created.name} FILE\`.`
      ])
    })), [
    'ipid init',
    'ipid init --name alice',
    'ipid init --name work --didauth',
    'IPIDD_PASSPHRASE=… ipid init --name bot --json'
  ], ['The passphrase is asked twice on a terminal (nothing is echoed); scripts set IPIDD_PASSPHRASE or pass --passphrase-file.',
    'DIDAuth proves the first identity made; a later one is asked about on a terminal (scripts: --didauth); `ipid didauth NAME` chooses later.'])

  examples(common(program.command('ls'))
    .description('list the identities this daemon holds')
    .action(run<CommonFlags>(async ({ flags, out }) => {
      const admin = await adminOf(flags)
      const list = await admin.get<{ identities: IdentitySummary[], damaged?: DamagedIdentity[] }>('/identities')
      const damaged = list.damaged ?? []
      out.result({ identities: list.identities, damaged }, style => [
        ...(list.identities.length === 0 && damaged.length === 0
          ? ['no identities yet: create one with `ipid init`']
          : list.identities.length === 0 ? [] : table(['NAME', 'VERSION', 'STATE', 'DID'], list.identities.map(i => [
            style.bold(i.name), String(i.version), i.deactivated ? style.red('deactivated') : style.green('active'), i.did
          ]), style)),
        // A damaged identity.json stops that identity: named, with how to restore it.
        ...damaged.map(d => `${style.bold(d.name)}  ${style.red('damaged')}: ${d.message}`)
      ])
    })), ['ipid ls', 'ipid ls --json'])

  examples(withNameArgument(common(program.command('show')))
    .description('show an identity: its DID, version, keys, services and document')
    .option('--did', 'print the DID alone (for scripts: DID=$(ipid show alice --did))')
    .action(run<CommonFlags & { name?: string, did?: boolean }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'show')
      const detail = await detailOf(admin, name)
      if (flags.did === true) {
        out.result({ did: detail.did }, () => detail.did)
        return
      }
      const resolved = await resolveThrough(admin.target, detail.did, {}).catch(() => undefined)
      const document = resolved?.didDocument ?? null
      out.result({ ...detail, didDocument: document, didDocumentMetadata: resolved?.didDocumentMetadata ?? null }, style => [
        `${style.bold(detail.name)}  ${detail.deactivated ? style.red('deactivated') : style.green('active')}`,
        ...fields([
          ['DID', style.bold(detail.did)],
          ['version', `${detail.version}  ${detail.versionId}`],
          ['update keys', detail.updateKeys === 'cold' ? `cold (signer ${detail.coldSigner ?? '?'}): changes need --update-key FILE` : `on this daemon${detail.prerotation ? ', pre-rotated' : ''}`],
          ...detail.keys.map((k, i): [string, string] => [i === 0 ? 'keys' : '', `#${k.fragment}  ${k.purposes.join(', ')}  ${style.dim(k.publicKeyMultibase)}`]),
          ...detail.services.map((s, i): [string, string] => [i === 0 ? 'services' : '', `#${s.fragment}  ${Array.isArray(s.type) ? s.type.join(', ') : s.type}  ${typeof s.serviceEndpoint === 'string' ? s.serviceEndpoint : JSON.stringify(s.serviceEndpoint)}`])
        ], style),
        ...(document === null ? ['', style.dim('(the document could not be resolved just now)')] : ['', style.dim('document:'), JSON.stringify(document, null, 2)])
      ])
    })), ['ipid show', 'ipid show alice', 'ipid show alice --json', 'DID=$(ipid show alice --did)'])

  examples(withNameArgument(updateKeyOption(common(program.command('deactivate'), { passphrase: true })))
    .description('deactivate an identity for good: its DID stops resolving to any key (this cannot be undone)')
    .option('-y, --yes', 'do not ask for confirmation (scripts)')
    .action(run<ChangeFlags & { name?: string, yes?: boolean }>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'deactivate')
      const detail = await changeable(admin, name, flags)
      if (flags.yes !== true) {
        const intro = [
          `Deactivating ${name} publishes a final version of ${detail.did}:`,
          'no key, no service, and no way back. Anyone who resolves it will see it deactivated.',
          ''
        ].join('\n')
        if (!await confirmByTyping(intro, 'Type the DID to confirm: ', detail.did, '--yes')) {
          throw new FailedError('not_confirmed', 'the DID typed does not match: nothing was changed')
        }
      }
      const result = await applyChange(admin, detail, flags, out, { method: 'POST', path: '/deactivate', doing: `deactivating ${name}`, deactivate: true })
      out.result(result, style => changeLines(`${style.bold(name)} is deactivated`, result, style))
    })), [
    'ipid deactivate',
    'ipid deactivate alice',
    'ipid deactivate alice --yes --passphrase-file ./pass --json'
  ], ['Asks you to type the DID, then the passphrase. With cold update keys, pass --update-key FILE.'])
}
