/**
 * `ipid auth <multiaddr | peer id>`: who is this peer? The daemon runs DIDAuth over libp2p with it
 * (`POST /admin/v1/peers/auth`) and answers with the DID the peer proved, the key it used and the document
 * version; a daemon without DIDAuth answers 404, which is said as such.
 */
import { CHANGE_TIMEOUT_MS, problemError } from '../api.ts'
import { FailedError, UsageError } from '../errors.ts'
import { fields } from '../output.ts'
import { adminOf, common, examples, run } from './shared.ts'
import type { Command } from 'commander'
import type { Problem } from '../api.ts'
import type { PeerSession } from '../../auth/registry.ts'
import type { DidAuthState } from '../../auth/identity-choice.ts'
import type { DaemonStatus } from '../../http/admin.ts'
import type { CommonFlags } from './shared.ts'

/** A multiaddr (`/ip4/…/p2p/…`) or a PeerId. */
const ADDRESS_RE = /^\/[a-z0-9]/
const PEER_ID_RE = /^(12D3KooW|16Uiu2|Qm)[1-9A-HJ-NP-Za-km-z]{20,}$|^(k51|bafz)[a-z0-9]{20,}$/

export function register (program: Command): void {
  examples(common(program.command('auth'))
    .description('authenticate a peer with DIDAuth: which DID it is, the key it proved, the document version')
    .argument('<peer>', 'a multiaddr (/ip4/…/tcp/…/p2p/12D3KooW…) or a PeerId the daemon can reach')
    .option('--as <name>', 'prove this identity of ours to the peer in the same exchange')
    .action(run<CommonFlags & { as?: string }>(async ({ args, flags, out }) => {
      const address = args[0]!
      if (!ADDRESS_RE.test(address) && !PEER_ID_RE.test(address)) {
        throw new UsageError('bad_peer', `"${address}" is neither a multiaddr (/ip4/…/p2p/…) nor a PeerId (12D3KooW…)`)
      }
      const admin = await adminOf(flags)
      const answer = await out.spin(`authenticating ${address}…`, async () =>
        admin.send<{ ok?: boolean, peer?: PeerSession } & Problem>('POST', '/peers/auth', { address, ...(flags.as === undefined ? {} : { as: flags.as }) }, CHANGE_TIMEOUT_MS))
      if (answer.status === 404 && answer.body?.reason === 'not_found') {
        throw new FailedError('didauth_unavailable', `DIDAuth is not available in the daemon at ${admin.target.url}: upgrade it to an ipidd with DIDAuth`)
      }
      if (answer.status === 422) {
        throw new FailedError(answer.body?.reason ?? 'not_authenticated', `${address} did not authenticate: ${answer.body?.detail ?? 'refused'}${answer.body?.reason === undefined ? '' : ` (${answer.body.reason})`}`)
      }
      if (answer.status !== 200 || answer.body?.peer === undefined) throw problemError(answer.status, answer.body, admin.target)
      const peer = answer.body.peer
      out.result(answer.body, style => [
        `${style.green('✓')} ${peer.peerId} is ${style.bold(peer.did)}`,
        ...fields([
          ['key', peer.keyId],
          ['version', peer.versionId],
          ['verified', peer.verifiedAt === undefined ? undefined : `${peer.verifiedAt}${peer.expiresAt === undefined ? '' : ` (session until ${peer.expiresAt})`}`],
          ['source', peer.source]
        ], style)
      ])
    })), [
    'ipid auth /ip4/192.0.2.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
    'ipid auth 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA --as alice --json'
  ], ['Exit codes: 0 authenticated, 1 the peer did not authenticate (or the daemon has no DIDAuth), 2 bad address, 3 no daemon.'])

  examples(common(program.command('didauth'))
    .description('the identity this daemon proves to peers over DIDAuth: show it, or choose another held one')
    .argument('[name]', 'prove this identity from now on (kept across restarts; auth.identity, if configured, wins)')
    .action(run<CommonFlags>(async ({ args, flags, out }) => {
      const admin = await adminOf(flags)
      const name = args[0]
      let state: DidAuthState | null
      if (name === undefined) {
        state = (await admin.get<DaemonStatus>('/status')).didauth
      } else {
        const answer = await admin.send<DidAuthState & Problem>('PUT', '/didauth', { identity: name })
        if (answer.status === 404 && answer.body?.reason === 'not_found') state = null
        else if (answer.status !== 200) throw problemError(answer.status, answer.body, admin.target)
        else state = answer.body
      }
      if (state === null) throw new FailedError('didauth_unavailable', `DIDAuth is not available in the daemon at ${admin.target.url} (Kubo backend, or an older ipidd)`)
      const shown = state
      out.result(shown, style => shown.identity === null
        ? 'DIDAuth proves no identity: several are held and none is chosen; choose one with `ipid didauth NAME`'
        : [
            `DIDAuth proves ${style.bold(shown.identity)}${shown.unlocked ? '' : style.red(' (locked: start the daemon with its passphrase to prove it)')}`,
            ...fields([['DID', shown.did], ['chosen by', shown.source === 'configured' ? 'auth.identity (configuration; it wins over ipid didauth)' : shown.source === 'chosen' ? 'this daemon (the first identity made, ipid init --didauth or ipid didauth)' : 'the only identity held']], style)
          ])
    })), [
    'ipid didauth',
    'ipid didauth work',
    'ipid didauth --json'
  ], ['Exit codes: 0 done, 1 unknown or deactivated identity (or no DIDAuth in the daemon), 3 no daemon.'])
}
