/** `ipid service add|rm`: the service endpoints in the document (a PeerId, a profile URL, an inbox…). */
import { FailedError, UsageError } from '../errors.ts'
import { applyChange, changeLines, changeable, enc } from './change.ts'
import { adminOf, examples, common, identityName, run, updateKeyOption } from './shared.ts'
import type { Command } from 'commander'
import type { ChangeFlags } from './change.ts'

/** The admin API's fragment rule (src/http/admin.ts SERVICE_FRAGMENT_RE). */
export const FRAGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A libp2p PeerId (base58btc Ed25519/secp256k1 `12D3KooW…`/`16Uiu2…`, RSA `Qm…`, or a CIDv1 `k51…`/`bafz…`). */
const PEER_ID_RE = /^(12D3KooW|16Uiu2|Qm)[1-9A-HJ-NP-Za-km-z]{20,}$|^(k51|bafz)[a-z0-9]{20,}$/
/** The service type of a libp2p node (src/identity/identities.ts PEER_SERVICE_TYPE). */
export const PEER_SERVICE_TYPE = 'LibP2PNode'

/**
 * The endpoint as the document holds it: a URI as it is; a bare PeerId as `{ peerId }` (how ipidd names the
 * daemon's own node); a JSON object or array as given.
 */
export function endpointOf (text: string): unknown {
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new UsageError('bad_endpoint', `the endpoint ${text} is not valid JSON`)
    }
  }
  if (PEER_ID_RE.test(text)) return { peerId: text }
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(text)) {
    throw new UsageError('bad_endpoint', `the endpoint "${text}" is neither a URI (https://…, mailto:…), a PeerId, nor JSON`)
  }
  return text
}

export function register (program: Command): void {
  const service = examples(program.command('service').description('the service endpoints in the DID document: add, remove'), [
    'ipid service add inbox ActivityPubInbox https://social.example/alice/inbox --name alice',
    `ipid service add laptop ${PEER_SERVICE_TYPE} 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA`,
    'ipid service rm inbox --name alice'
  ], ['Each change publishes a new version and prints it; `ipid service <command> --help` tells more.'])

  examples(updateKeyOption(common(service.command('add'), { passphrase: true }))
    .description('add a service endpoint')
    .argument('<fragment>', 'its id in the document, e.g. inbox (becomes did:ipid:…#inbox)')
    .argument('<type>', `its type, e.g. ActivityPubInbox, LinkedDomains, ${PEER_SERVICE_TYPE}`)
    .argument('<endpoint>', 'a URI, a libp2p PeerId, or a JSON object')
    .option('-n, --name <name>', 'the identity (default: the only one held)')
    .action(run<ChangeFlags & { name?: string }>(async ({ args, flags, out }) => {
      const [fragment, type, endpointText] = [args[0]!, args[1]!, args[2]!]
      if (!FRAGMENT_RE.test(fragment)) throw new UsageError('bad_fragment', `"${fragment}" cannot be a service id: use 1–64 letters, digits, ".", "_" or "-"`)
      const serviceEndpoint = endpointOf(endpointText)
      const admin = await adminOf(flags)
      const name = await identityName(admin, flags.name, `service add ${fragment} ${type} ${endpointText} --name`)
      const detail = await changeable(admin, name, flags)
      if (detail.services.some(s => s.fragment === fragment) || detail.keys.some(k => k.fragment === fragment)) {
        throw new FailedError('duplicate', `${name} already uses #${fragment}: choose another id, or remove it first with \`ipid service rm ${fragment}\``)
      }
      const result = await applyChange(admin, detail, flags, out, {
        method: 'POST',
        path: '/services',
        body: { service: { fragment, type, serviceEndpoint } },
        doing: `adding #${fragment} to ${name}`
      })
      out.result(result, style => changeLines(`${style.bold(name)}: service #${fragment} added`, result, style, [['service', `${result.did}#${fragment}`]]))
    })), [
    'ipid service add inbox ActivityPubInbox https://social.example/alice/inbox',
    'ipid service add profile LinkedDomains https://alice.example',
    `ipid service add laptop ${PEER_SERVICE_TYPE} 12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA --name alice`
  ])

  examples(updateKeyOption(common(service.command('rm'), { passphrase: true }))
    .description('remove a service endpoint')
    .argument('<fragment>', 'its id in the document (see `ipid show`)')
    .option('-n, --name <name>', 'the identity (default: the only one held)')
    .action(run<ChangeFlags & { name?: string }>(async ({ args, flags, out }) => {
      const fragment = args[0]!.replace(/^.*#/, '')
      const admin = await adminOf(flags)
      const name = await identityName(admin, flags.name, `service rm ${fragment} --name`)
      const detail = await changeable(admin, name, flags)
      if (!detail.services.some(s => s.fragment === fragment)) throw new FailedError('unknown_service', `${name} has no service #${fragment}: \`ipid show ${name}\` lists its services`)
      const result = await applyChange(admin, detail, flags, out, { method: 'DELETE', path: `/services/${enc(fragment)}`, doing: `removing #${fragment} from ${name}` })
      out.result(result, style => changeLines(`${style.bold(name)}: service #${fragment} removed`, result, style))
    })), ['ipid service rm inbox', 'ipid service rm inbox --name alice'])
}
