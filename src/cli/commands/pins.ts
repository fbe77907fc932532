/** `ipid pin`, `ipid unpin`, `ipid pins`: identities this daemon keeps alive for others. */
import { problemError } from '../api.ts'
import { table } from '../output.ts'
import { adminOf, checkDid, common, examples, run } from './shared.ts'
import type { Command } from 'commander'
import type { CommonFlags } from './shared.ts'

interface Pin { did: string, kind: 'own' | 'pinned' }

export function register (program: Command): void {
  examples(common(program.command('pin'))
    .description('keep an identity alive: this daemon fetches it now, holds it, and republishes its record while its owner is offline')
    .argument('<did>', 'the DID, in any spelling')
    .action(run<CommonFlags>(async ({ args, flags, out }) => {
      const did = await checkDid(args[0]!)
      const admin = await adminOf(flags)
      const answer = await out.spin(`pinning ${did}…`, async () => admin.send<Pin>('PUT', `/pins/${encodeURIComponent(did)}`))
      if (answer.status !== 200 && answer.status !== 201) throw problemError(answer.status, answer.body as never, admin.target)
      const pin = answer.body
      out.result({ ...pin, newlyPinned: answer.status === 201 }, style => pin.kind === 'own'
        ? `${style.green('✓')} ${pin.did} is held by this daemon: always kept`
        : `${style.green('✓')} ${pin.did} ${answer.status === 201 ? 'pinned' : 'was already pinned'}: kept and republished by this daemon`)
    })), ['ipid pin did:ipid:k51qzi5uqu5dl…'])

  examples(common(program.command('unpin'))
    .description('stop keeping an identity (it stays cached while there is room)')
    .argument('<did>', 'the DID, in any spelling')
    .action(run<CommonFlags>(async ({ args, flags, out }) => {
      const did = await checkDid(args[0]!)
      const admin = await adminOf(flags)
      await admin.call('DELETE', `/pins/${encodeURIComponent(did)}`)
      out.result({ did, pinned: false }, style => `${style.green('✓')} ${did} unpinned`)
    })), ['ipid unpin did:ipid:k51qzi5uqu5dl…'])

  examples(common(program.command('pins'))
    .description('the identities this daemon keeps: its own and the pinned ones')
    .action(run<CommonFlags>(async ({ flags, out }) => {
      const admin = await adminOf(flags)
      const list = await admin.get<{ pins: Pin[] }>('/pins')
      out.result(list, style => list.pins.length === 0
        ? 'nothing is kept yet: `ipid pin <did>` keeps an identity alive'
        : table(['KIND', 'DID'], list.pins.map(p => [p.kind === 'own' ? style.cyan('own') : 'pinned', p.did]), style))
    })), ['ipid pins', 'ipid pins --json'])
}
