/**
 * One change to an identity (keys, services, deactivation), the same way for every command: the daemon is
 * asked about the identity first (so a missing --update-key or a deactivated identity is reported before any
 * passphrase is typed), then the passphrase, then the change — through the cold key file when the update keys
 * are cold — and a summary of what changed and the new version id.
 */
import { CHANGE_TIMEOUT_MS } from '../api.ts'
import { FailedError, UsageError } from '../errors.ts'
import { fields } from '../output.ts'
import { passphraseFor } from './shared.ts'
import type { AdminClient } from '../api.ts'
import type { Output, Style } from '../output.ts'
import type { ChangeResult } from '../../identity/identities.ts'
import type { IdentityDetail } from '../../http/admin.ts'
import type { CommonFlags } from './shared.ts'

export interface ChangeFlags extends CommonFlags {
  updateKey?: string
}

export const enc = encodeURIComponent

export async function detailOf (admin: AdminClient, name: string): Promise<IdentityDetail> {
  return admin.get<IdentityDetail>(`/identities/${enc(name)}`)
}

/** Checks that the identity can change with these flags; returns its detail. */
export async function changeable (admin: AdminClient, name: string, flags: ChangeFlags): Promise<IdentityDetail> {
  const detail = await detailOf(admin, name)
  if (detail.deactivated) throw new FailedError('deactivated', `${name} (${detail.did}) is deactivated: it cannot change any more`)
  if (detail.updateKeys === 'cold' && flags.updateKey === undefined) {
    throw new UsageError('update_key_required', `the update keys of ${name} are in cold storage: pass --update-key FILE (the file \`ipid keys cold\` wrote)`)
  }
  if (detail.updateKeys === 'daemon' && flags.updateKey !== undefined) {
    throw new UsageError('update_keys_held', `this daemon holds the update keys of ${name}: drop --update-key`)
  }
  return detail
}

/** Asks for the passphrase and applies the change; `detail` from `changeable`. */
export async function applyChange (admin: AdminClient, detail: IdentityDetail, flags: ChangeFlags, out: Output, change: { method: string, path: string, body?: Record<string, unknown>, doing: string, deactivate?: boolean }): Promise<ChangeResult> {
  const passphrase = await passphraseFor(flags, detail.name)
  const apiPath = `/identities/${enc(detail.name)}${change.path}`
  const body = change.body ?? {}
  return out.spin(`${change.doing}, signing and publishing the new version…`, async () => {
    if (flags.updateKey === undefined) return admin.call<ChangeResult>(change.method, apiPath, { ...body, passphrase }, CHANGE_TIMEOUT_MS)
    const { coldChange } = await import('../cold-keys.ts')
    return coldChange<ChangeResult>({
      admin,
      detail,
      path: flags.updateKey,
      passphrase,
      method: change.method,
      apiPath,
      body,
      needsNext: detail.prerotation && change.deactivate !== true,
      warn: text => { out.warn(text) }
    })
  })
}

/** The summary people read after a change: what changed, the new version and the one it replaced. */
export function changeLines (headline: string, result: ChangeResult, style: Style, extra: Array<[string, string | undefined]> = []): string[] {
  return [
    `${style.green('✓')} ${headline}`,
    ...fields([
      ['DID', result.did],
      ['version', `${result.version}  ${style.bold(result.versionId)}`],
      ['previous', result.previousVersionId],
      ...extra
    ], style)
  ]
}
