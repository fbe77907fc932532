/**
 * `ipid resolve` and `ipid history`: look up anyone's DID. Through the daemon when one answers (its cache and
 * keeper make answers fast and available while owners are offline); with `--bootstrap`, or when no daemon
 * answers and none was named with --api / IPIDD_API, through a short-lived in-memory node that dials the
 * bootstrap peers (`--bootstrap`, else the configured ones), resolves, and stops.
 */
import { existsSync } from 'node:fs'
import { Option } from 'commander'
import { dataDirOf } from '../../shared-constants.ts'
import { request } from '../api.ts'
import { EXIT_FAILED, EXIT_USAGE, CliError, FailedError, UnreachableError, UsageError, oneLine } from '../errors.ts'
import { fields } from '../output.ts'
import { checkDid, common, examples, multiaddrs, run, targetOf } from './shared.ts'
import type { Command } from 'commander'
import type { Target } from '../api.ts'
import type { Output, Style } from '../output.ts'
import type { HistoryEntry } from '../../did/changes.ts'
import type { DidResolutionResult } from '../../resolver/resolver.ts'
import type { CommonFlags } from './shared.ts'

/** How long the temporary node waits for a first bootstrap peer. */
export const BOOTSTRAP_WAIT_MS = 10_000
/** How long the temporary node's resolve may wait on the network. */
export const STANDALONE_RESOLVE_DEADLINE_MS = 15_000
/** History pages asked of a daemon, and the most versions gathered. */
const HISTORY_PAGE = 200
const MAX_HISTORY_VERSIONS = 10_000

interface ResolveFlags extends CommonFlags {
  versionId?: string
  versionTime?: string
  cache?: boolean
  bootstrap?: string[]
}

export interface HistoryPage {
  id: string
  versions: HistoryEntry[]
  legacy?: boolean
  stale: boolean
}

export function register (program: Command): void {
  examples(standaloneOptions(common(program.command('resolve')))
    .description('resolve a did:ipid DID: its current (or an earlier) document, keys and services')
    .argument('<did>', 'the DID, in any spelling (did:ipid:k51…, did:ipid:12D3KooW…)')
    .option('--version-id <cid>', 'the version with this id')
    .option('--version-time <time>', 'the version in force at this time (ISO 8601, e.g. 2026-01-31T12:00:00Z)')
    .option('--no-cache', 'ask the network even if the cached answer is fresh')
    .action(run<ResolveFlags>(async ({ args, flags, out }) => {
      const did = await checkDid(args[0]!)
      const options = {
        ...(flags.versionId === undefined ? {} : { versionId: flags.versionId }),
        ...(flags.versionTime === undefined ? {} : { versionTime: flags.versionTime }),
        ...(flags.cache === false ? { noCache: true } : {})
      }
      const { result, via } = await lookUp(flags, out, `resolving ${did}…`,
        async target => resolveThrough(target, did, options),
        async resolver => (await resolver()).resolve(did, options))
      const error = result.didResolutionMetadata.error
      if (error !== undefined) throw resolutionError(did, error, result.didResolutionMetadata)
      out.result(result, style => resolutionLines(did, result, via, style))
    })), [
    'ipid resolve did:ipid:k51qzi5uqu5dl…',
    'ipid resolve did:ipid:k51qzi5uqu5dl… --json',
    'ipid resolve did:ipid:k51qzi5uqu5dl… --version-time 2026-01-31T12:00:00Z',
    'ipid resolve did:ipid:k51qzi5uqu5dl… --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…'
  ], ['Exit codes: 0 resolved (also when deactivated), 1 not found or invalid, 2 malformed DID or options, 3 --api unreachable.'])

  examples(standaloneOptions(common(program.command('history')))
    .description('the verified version history of a DID, newest first: who signed each version and what it changed')
    .argument('<did>', 'the DID, in any spelling')
    .action(run<ResolveFlags>(async ({ args, flags, out }) => {
      const did = await checkDid(args[0]!)
      const { result: page, via } = await lookUp(flags, out, `fetching the history of ${did}…`,
        async target => historyThrough(target, did),
        async resolver => {
          const { result, entries } = await (await resolver()).history(did)
          const error = result.didResolutionMetadata.error
          if (error !== undefined) throw resolutionError(did, error, result.didResolutionMetadata)
          return { id: String(result.didDocumentMetadata.canonicalId ?? did), versions: entries, ...(entries.length === 0 ? { legacy: true } : {}), stale: result.didResolutionMetadata.stale === true }
        })
      out.result(page, style => historyLines(page, via, style))
    })), [
    'ipid history did:ipid:k51qzi5uqu5dl…',
    'ipid history did:ipid:k51qzi5uqu5dl… --json'
  ])
}

function standaloneOptions (command: Command): Command {
  return command.addOption(new Option('--bootstrap <multiaddr>', 'do not use a daemon: resolve with a short-lived node that dials this peer (repeatable)').argParser(multiaddrs))
}

type StandaloneResolver = () => Promise<{ resolve: (did: string, options?: Record<string, unknown>) => Promise<DidResolutionResult>, history: (did: string) => Promise<{ result: DidResolutionResult, entries: HistoryEntry[] }> }>

/**
 * Runs `viaDaemon` against the daemon, or `viaNode` with a temporary node: with --bootstrap, or when the daemon
 * found by default does not answer (one named with --api or IPIDD_API must answer: exit 3 otherwise).
 */
async function lookUp<T> (flags: ResolveFlags, out: Output, doing: string, viaDaemon: (target: Target) => Promise<T>, viaNode: (resolver: StandaloneResolver) => Promise<T>): Promise<{ result: T, via: string }> {
  if (flags.bootstrap === undefined) {
    const target = await targetOf(flags)
    try {
      return { result: await out.spin(doing, async () => viaDaemon(target)), via: `the daemon at ${target.url}` }
    } catch (err) {
      if (!(err instanceof UnreachableError) || target.source === 'flag' || target.source === 'env') throw err
      return withTemporaryNode(flags, out, doing, viaNode, `no daemon answers at ${target.url}`)
    }
  }
  return withTemporaryNode(flags, out, doing, viaNode)
}

async function withTemporaryNode<T> (flags: ResolveFlags, out: Output, doing: string, viaNode: (resolver: StandaloneResolver) => Promise<T>, why?: string): Promise<{ result: T, via: string }> {
  const { loadConfig } = await import('../../config.ts')
  const config = loadConfig({ flags: { dataDir: dataDirOf(flags.dataDir) }, fileExists: existsSync })
  const bootstrap = flags.bootstrap ?? config.ipfs.bootstrap
  if (bootstrap.length === 0 && config.ipfs.network === 'local') {
    throw new UnreachableError('no_daemon', `${why ?? 'no daemon'}, and there are no bootstrap peers to ask: start a daemon (\`ipid daemon\`) or pass --bootstrap <multiaddr>`)
  }
  if (why !== undefined) out.note(`${why}: resolving with a short-lived node`)
  const [{ createEmbeddedNode }, { Resolver }] = await Promise.all([import('../../ipfs/helia.ts'), import('../../resolver/resolver.ts')])
  let node: Awaited<ReturnType<typeof createEmbeddedNode>>
  try {
    node = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, network: config.ipfs.network })
  } catch (err) {
    throw new UsageError('bad_bootstrap', `cannot start a node with these bootstrap peers: ${(err as Error).message}`)
  }
  await node.start()
  try {
    const result = await out.spin(`${doing} (temporary node, ${bootstrap.length} bootstrap peer${bootstrap.length === 1 ? '' : 's'})`, async () => {
      const p2p = node.libp2p as { getConnections: () => unknown[] }
      const end = Date.now() + BOOTSTRAP_WAIT_MS
      while (p2p.getConnections().length === 0) {
        if (Date.now() > end) throw new FailedError('no_peers', `none of the bootstrap peers answered within ${BOOTSTRAP_WAIT_MS / 1000} s (${bootstrap.join(', ')}): check the addresses`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      const resolver = new Resolver({ backend: node, watch: false, deadlineMs: STANDALONE_RESOLVE_DEADLINE_MS })
      return viaNode(async () => ({
        resolve: async (did, options) => toWire(await resolver.resolve(did, options)),
        history: async did => resolver.history(did)
      }))
    })
    return { result, via: `a temporary node (${bootstrap.length} bootstrap peer${bootstrap.length === 1 ? '' : 's'})` }
  } finally {
    await node.stop()
  }
}

async function toWire (result: DidResolutionResult): Promise<DidResolutionResult> {
  const { toWireResult } = await import('../../resolver/wire.ts')
  return toWireResult(result)
}

/** Resolves through a daemon's resolution API; the result as on the wire (errors as problem objects). */
export async function resolveThrough (target: Target, did: string, options: { versionId?: string, versionTime?: string, noCache?: boolean }): Promise<DidResolutionResult> {
  const query = new URLSearchParams()
  if (options.versionId !== undefined) query.set('versionId', options.versionId)
  if (options.versionTime !== undefined) query.set('versionTime', options.versionTime)
  if (options.noCache === true) query.set('noCache', 'true')
  const answer = await request<Partial<DidResolutionResult> & { detail?: string }>(target, `/1.0/identifiers/${encodeURIComponent(did)}${query.size > 0 ? `?${query.toString()}` : ''}`, {
    headers: { accept: 'application/did-resolution' }
  })
  const body = answer.body
  if (body === undefined || body === null || typeof body.didResolutionMetadata !== 'object') {
    throw new FailedError('bad_answer', `the daemon at ${target.url} answered HTTP ${answer.status} without a resolution result${body?.detail === undefined ? '' : `: ${body.detail}`}`)
  }
  return { didDocument: body.didDocument ?? null, didResolutionMetadata: body.didResolutionMetadata ?? {}, didDocumentMetadata: body.didDocumentMetadata ?? {} }
}

async function historyThrough (target: Target, did: string): Promise<HistoryPage> {
  let page: HistoryPage | undefined
  let before: number | undefined
  for (;;) {
    const answer = await request<HistoryPage & { nextBefore?: number, status?: number, detail?: string, reason?: string, type?: string }>(target,
      `/1.0/history/${encodeURIComponent(did)}?limit=${HISTORY_PAGE}${before === undefined ? '' : `&before=${before}`}`)
    const body = answer.body
    if (answer.status !== 200 || !Array.isArray(body?.versions)) {
      throw resolutionError(did, { type: body?.type, detail: body?.detail, reason: body?.reason }, {}, answer.status)
    }
    page = page === undefined ? { id: body.id, versions: body.versions, ...(body.legacy === true ? { legacy: true } : {}), stale: body.stale } : { ...page, versions: [...page.versions, ...body.versions] }
    if (body.nextBefore === undefined || page.versions.length >= MAX_HISTORY_VERSIONS) return page
    before = body.nextBefore
  }
}

/** A resolution error (a code, or a problem object from the wire) as a one-line CliError. */
function resolutionError (did: string, error: unknown, metadata: Record<string, unknown>, httpStatus?: number): CliError {
  const problem = typeof error === 'object' && error !== null ? error as { type?: string, detail?: string, reason?: string } : {}
  const type = typeof error === 'string' ? error : (problem.type ?? '').replace(/^.*#/, '')
  const detail = problem.detail ?? (typeof metadata.message === 'string' ? metadata.message : type)
  const reason = problem.reason ?? (typeof metadata.reason === 'string' ? metadata.reason : 'resolution_failed')
  const usage = /^(invalidDid|invalidDidUrl|invalidOptions|methodNotSupported|INVALID_DID|INVALID_DID_URL|INVALID_OPTIONS|METHOD_NOT_SUPPORTED)$/.test(type) || httpStatus === 400 || httpStatus === 501
  const notFound = /^(notFound|NOT_FOUND)$/.test(type) || httpStatus === 404
  const next = usage ? 'check the DID and the options' : notFound ? 'its owner has not published it, or no peer holds it now; try again later' : 'its publisher may be broken or hostile'
  return new CliError(usage ? EXIT_USAGE : EXIT_FAILED, reason, oneLine(`${did}: ${detail}: ${next}`))
}

function resolutionLines (did: string, result: DidResolutionResult, via: string, style: Style): string[] {
  const meta = result.didDocumentMetadata
  const doc = result.didDocument
  const resolution = result.didResolutionMetadata
  const methods = doc?.verificationMethod ?? []
  const purposesOf = (id: string): string[] => (['authentication', 'assertionMethod', 'keyAgreement', 'capabilityInvocation', 'capabilityDelegation'] as const)
    .filter(p => (doc?.[p] as unknown[] | undefined)?.some(ref => ref === id || (typeof ref === 'object' && ref !== null && (ref as { id?: string }).id === id)) === true)
  const short = (id: string): string => id.startsWith(`${String(meta.canonicalId ?? did)}#`) ? id.slice(id.indexOf('#')) : id
  return [
    `${style.bold(String(meta.canonicalId ?? did))}  ${meta.deactivated === true ? style.red('deactivated') : style.green('active')}`,
    ...fields([
      ['version', String(meta.versionId ?? '?')],
      ['updated', meta.updated === undefined ? undefined : `${String(meta.updated)}  (created ${String(meta.created ?? '?')})`],
      ['next version', meta.nextVersionId === undefined ? undefined : `${String(meta.nextVersionId)} (this is an earlier version)`],
      ...methods.map((m, i): [string, string] => [i === 0 ? 'keys' : '', `${short(m.id)}  ${purposesOf(m.id).join(', ') || style.dim('no purpose')}  ${style.dim(String((m as { publicKeyMultibase?: string }).publicKeyMultibase ?? m.type))}`]),
      ...(doc?.service ?? []).map((s, i): [string, string] => [i === 0 ? 'services' : '', `${short(s.id)}  ${Array.isArray(s.type) ? s.type.join(', ') : String(s.type)}  ${typeof s.serviceEndpoint === 'string' ? s.serviceEndpoint : JSON.stringify(s.serviceEndpoint)}`]),
      ['note', meta.normalised === true ? 'published by an older IPID tool; normalised to a current DID document' : undefined],
      ['stale', resolution.stale === true ? style.yellow(`the network did not answer in time: this is the last verified version (retrieved ${String(resolution.retrieved ?? '?')})`) : undefined],
      ['forks', Array.isArray(resolution.forkEvidence) && resolution.forkEvidence.length > 0 ? style.red(`${resolution.forkEvidence.length} refused fork(s): the root key may be compromised`) : undefined],
      ['via', style.dim(via)]
    ], style)
  ]
}

function historyLines (page: HistoryPage, via: string, style: Style): string[] {
  if (page.legacy === true) return [`${style.bold(page.id)}: published by an older IPID tool, without a version history`, style.dim(`via ${via}`)]
  const lines = [`${style.bold(page.id)}  ${page.versions.length} version${page.versions.length === 1 ? '' : 's'}${page.stale ? style.yellow('  (stale)') : ''}`]
  for (const v of page.versions) {
    lines.push(`${style.bold(`v${v.version}`)}  ${v.updated}  ${v.versionId}`)
    lines.push(`    ${style.dim('signed by')} ${v.signer}`)
    const c = v.changes
    const what = [
      ...c.keysAdded.map(k => style.green(`+ key ${k.id.slice(k.id.indexOf('#'))}${k.purposes.length > 0 ? ` (${k.purposes.join(', ')})` : ''}`)),
      ...c.keysRemoved.map(k => style.red(`- key ${k.id.slice(k.id.indexOf('#'))}`)),
      ...c.keysRotated.map(k => style.yellow(`~ key ${k.id.slice(k.id.indexOf('#'))} replaced`)),
      ...c.keysRepurposed.map(k => `~ key ${k.id.slice(k.id.indexOf('#'))} now ${k.purposes.join(', ')}`),
      ...c.servicesAdded.map(s => style.green(`+ service ${s.slice(s.indexOf('#'))}`)),
      ...c.servicesRemoved.map(s => style.red(`- service ${s.slice(s.indexOf('#'))}`)),
      ...c.servicesChanged.map(s => `~ service ${s.slice(s.indexOf('#'))}`),
      ...(c.updateKeysChanged && v.version > 1 ? [style.dim('update key moved on')] : []),
      ...(c.deactivated ? [style.red('deactivated')] : [])
    ]
    if (what.length > 0) lines.push(`    ${what.join(', ')}`)
  }
  lines.push(style.dim(`via ${via}`))
  return lines
}
