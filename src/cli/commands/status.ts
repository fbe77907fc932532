/** `ipid status`: is the daemon up and well, whom is it connected to, what do its cache and keeper hold. */
import { InvalidArgumentError } from 'commander'
import { EXIT_FAILED, EXIT_OK, UnreachableError } from '../errors.ts'
import { fields } from '../output.ts'
import { adminOf, common, examples, run } from './shared.ts'
import type { Command } from 'commander'
import type { DaemonStatus } from '../../http/admin.ts'
import type { CommonFlags } from './shared.ts'

/** Most seconds `--wait` accepts, and how often it asks again. */
const MAX_WAIT_S = 600
const WAIT_RETRY_MS = 200

export function register (program: Command): void {
  examples(common(program.command('status'))
    .description('the daemon\'s health, node and peers, locked identities and DIDAuth, cache and keeper figures')
    .option('--wait <seconds>', 'wait up to this long for the daemon to answer (after starting it in the background)', (v: string) => {
      if (!/^\d{1,3}$/.test(v) || Number(v) > MAX_WAIT_S) throw new InvalidArgumentError(`a whole number of seconds up to ${MAX_WAIT_S}`)
      return Number(v)
    })
    .option('--addresses', 'print only the daemon\'s libp2p addresses, one per line (for --bootstrap of another node)')
    .action(run<CommonFlags & { wait?: number, addresses?: boolean }>(async ({ flags, out }) => {
      const deadline = Date.now() + (flags.wait ?? 0) * 1000
      let status: DaemonStatus
      for (;;) {
        try {
          // Found again each time: a daemon starting in the background writes its URL once it listens.
          status = await (await adminOf(flags)).get<DaemonStatus>('/status')
          break
        } catch (err) {
          if (!(err instanceof UnreachableError) || Date.now() >= deadline) throw err
          await new Promise(resolve => setTimeout(resolve, WAIT_RETRY_MS))
        }
      }
      if (flags.addresses === true) {
        out.result(status.ipfs.addresses, () => status.ipfs.addresses)
        return EXIT_OK
      }
      const { keeper, cache, ipfs, identities, didauth } = status
      const minutes = Math.floor(status.uptimeSeconds / 60)
      out.result(status, style => [
        `ipidd ${status.version}  ${status.health.status === 'ok' ? style.green('healthy') : style.red(`degraded (${Object.entries(status.health.checks).filter(([, v]) => v !== 'ok').map(([k, v]) => `${k} ${v}`).join(', ')})`)}  ${style.dim(`up ${minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : minutes > 0 ? `${minutes} min` : `${status.uptimeSeconds} s`}`)}`,
        ...fields([
          ['HTTP', status.httpUrl],
          ['IPFS', `${ipfs.backend}, ${ipfs.network} network`],
          ['PeerId', ipfs.peerId],
          ...ipfs.addresses.map((a, i): [string, string] => [i === 0 ? 'libp2p' : '', a]),
          ['peers', `${ipfs.peerCount}${ipfs.peers.length > 0 ? `  ${style.dim(ipfs.peers.slice(0, 5).join(', ') + (ipfs.peerCount > 5 ? ', …' : ''))}` : ''}`],
          ['identities', `${identities.held} held${identities.deactivated > 0 ? ` (${identities.deactivated} deactivated)` : ''}`],
          ['locked', identities.locked.length === 0 ? undefined : style.red(`${identities.locked.join(', ')} (records not re-signed: start the daemon with IPIDD_PASSPHRASE or a passphrase file)`)],
          ['records', identities.earliestExpiry === null ? undefined : `the first expires ${identities.earliestExpiry.expiresAt} (${identities.earliestExpiry.name})`],
          ['damaged', identities.damaged.length === 0 ? undefined : style.red(`${identities.damaged.join(', ')} (identity.json damaged: \`ipid ls\` says how to restore it)`)],
          ['DIDAuth', didauth === null ? undefined : didauth.identity === null ? 'proves no identity (several held, none chosen: ipid didauth NAME)' : `${didauth.identity}, ${didauth.unlocked ? 'unlocked' : didauth.did === undefined ? 'not held here' : style.red('locked')}`],
          ['cache', `${cache.store}: ${cache.identities === null ? style.red('not answering, identities unknown') : cache.identities} of at most ${cache.maxIdentities} identities; ${cache.own} own, ${cache.pinned} pinned`],
          ['resolves', `${cache.hits} from the cache, ${cache.networkLookups} network lookups, ${cache.staleAnswers} stale answers`],
          ['keeper', `every ${formatInterval(keeper.intervalMs)}; ${keeper.last === null ? 'no round yet' : `last round ${keeper.last.startedAt}: kept ${keeper.last.kept}, republished ${keeper.last.republished}, failed ${keeper.last.failed}${keeper.last.expired > 0 ? `, ${keeper.last.expired} expired` : ''}`}`]
        ], style)
      ])
      return status.health.status === 'ok' ? EXIT_OK : EXIT_FAILED
    })), [
    'ipid status',
    'ipid status --json',
    'ipid status --wait 10',
    'ipid daemon --data-dir ./node-b --bootstrap "$(ipid status --data-dir ./node-a --addresses | head -n 1)"'
  ], ['Exit codes: 0 healthy, 1 degraded (a check failed), 3 no daemon answers.'])
}

function formatInterval (ms: number): string {
  const minutes = Math.round(ms / 60_000)
  return minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`
}
