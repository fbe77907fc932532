/**
 * `createNodeResolver(options)`: an in-process did:ipid resolver for apps that run no daemon. It starts an
 * embedded IPFS node (loopback by default; it dials only the bootstrap peers given, or the public network's with
 * `network: 'public'`), a resolver over it with its verified state in memory or in a cache store, waits for its
 * first peers, and hands back `resolve`, the did-resolver plugin, and `stop()`.
 */
import { join } from 'node:path'
import { OperationError } from '../errors.ts'
import { ResolveCache } from '../cache/cache.ts'
import { createStore } from '../cache/stores.ts'
import { createEmbeddedNode } from '../ipfs/helia.ts'
import { getResolver } from './driver.ts'
import { Resolver } from './resolver.ts'
import type { EmbeddedNode, NetworkProfile } from '../ipfs/helia.ts'
import type { Logger } from '../log.ts'
import type { DidResolutionResult, ResolveOptions } from './result.ts'
import type { Libp2p } from '@libp2p/interface'
import type { DIDResolver } from 'did-resolver'

/** Listen on loopback only, on any free port, unless told otherwise: an app's node serves nobody else by default. */
export const DEFAULT_NODE_LISTEN = ['/ip4/127.0.0.1/tcp/0']
/** How long `createNodeResolver` waits for its first peers before it gives up. */
export const DEFAULT_PEER_WAIT_MS = 30_000

export interface NodeResolverOptions {
  /** Peers to dial at start (multiaddrs ending in `/p2p/<PeerId>`); redialled while none is connected. */
  bootstrap?: string[]
  /** libp2p listen addresses (default: loopback, any free port). */
  listen?: string[]
  announce?: string[]
  /** `local` (default): only the bootstrap peers given; `public`: the public IPFS bootstrap list too. */
  network?: NetworkProfile
  /** Blocks, the node's key and the cache live here (SQLite, `cache.sqlite`); everything in memory without it. */
  dataDir?: string
  /** Another cache store, as the daemon's `--cache-url` (`sqlite:FILE`, `redis://…`, `postgres://…`); needs `dataDir` for a relative SQLite path. */
  cacheUrl?: string
  /** Peers to be connected to (and identified) before it returns: default 1 with bootstrap peers (or `public`), else 0. */
  minPeers?: number
  /** How long to wait for `minPeers` (default 30 s); then the node is stopped and the call fails (`no_peers`). */
  peerWaitMs?: number
  /** How long one resolve may wait on the network. */
  resolveDeadlineMs?: number
  logger?: Logger
  signal?: AbortSignal
}

export interface NodeResolver {
  resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult>
  /** The did-resolver plugin: `new Resolver(nodeResolver.getResolver())`. */
  getResolver: () => { ipid: DIDResolver }
  /** The embedded node (its PeerId and addresses, to let other nodes dial it). */
  readonly node: EmbeddedNode
  /** Stops the resolver, the cache and the node. */
  stop: () => Promise<void>
}

/** The node did not reach `minPeers` in time (reason `no_peers`), or the start was aborted (`aborted`). */
export class NodeResolverError extends OperationError {
  override readonly name = 'NodeResolverError'
}

export async function createNodeResolver (options: NodeResolverOptions = {}): Promise<NodeResolver> {
  const bootstrap = options.bootstrap ?? []
  const minPeers = options.minPeers ?? (bootstrap.length > 0 || options.network === 'public' ? 1 : 0)
  const node = await createEmbeddedNode({
    listen: options.listen ?? DEFAULT_NODE_LISTEN,
    bootstrap,
    ...(options.announce === undefined ? {} : { announce: options.announce }),
    ...(options.network === undefined ? {} : { network: options.network }),
    ...(options.dataDir === undefined ? {} : { dataDir: join(options.dataDir, 'ipfs') }),
    ...(options.logger === undefined ? {} : { logger: options.logger })
  })
  const cache = options.dataDir === undefined && options.cacheUrl === undefined
    ? undefined
    : new ResolveCache({ store: createStore(options.cacheUrl, options.dataDir ?? '.'), clock: Date.now, ...(options.logger === undefined ? {} : { logger: options.logger }) })
  const stops: Array<() => Promise<void> | void> = []
  const stop = async (): Promise<void> => {
    for (const part of stops.splice(0).reverse()) await part()
  }
  let resolver: Resolver
  try {
    await node.start()
    stops.push(async () => node.stop())
    if (cache !== undefined) {
      await cache.start()
      stops.push(async () => cache.stop())
    }
    resolver = new Resolver({
      backend: node,
      ...(cache === undefined ? {} : { cache }),
      ...(options.resolveDeadlineMs === undefined ? {} : { deadlineMs: options.resolveDeadlineMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger })
    })
    stops.push(() => { resolver.stop() })
    await waitForPeers(node, minPeers, AbortSignal.any([AbortSignal.timeout(options.peerWaitMs ?? DEFAULT_PEER_WAIT_MS), ...(options.signal === undefined ? [] : [options.signal])]))
  } catch (err) {
    await stop()
    throw err
  }
  return {
    resolve: async (did, resolveOptions) => resolver.resolve(did, resolveOptions),
    getResolver: () => getResolver(resolver),
    node,
    stop
  }
}

/**
 * Resolves once `count` connected peers are identified (the DHT knows what they speak then); rejects with
 * `NodeResolverError` when `signal` aborts.
 */
async function waitForPeers (node: EmbeddedNode, count: number, signal: AbortSignal): Promise<void> {
  if (count <= 0) return
  const libp2p = node.libp2p as Libp2p
  const identified = async (): Promise<number> => {
    const known = await Promise.all(libp2p.getPeers().map(async peer => libp2p.peerStore.get(peer).then(p => p.protocols.length > 0, () => false)))
    return known.filter(Boolean).length
  }
  let wake = (): void => {}
  const onIdentify = (): void => { wake() }
  libp2p.addEventListener('peer:identify', onIdentify)
  try {
    for (;;) {
      // Armed before counting, so that an identify during the count is not missed.
      const woken = new Promise<void>(resolve => { wake = resolve })
      const reached = await identified()
      if (reached >= count) return
      if (signal.aborted) {
        const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError'
        throw new NodeResolverError(timedOut ? 'no_peers' : 'aborted', timedOut
          ? `the node reached ${reached} of the ${count} peer(s) asked for in time; check the bootstrap addresses`
          : 'the start was aborted', { cause: signal.reason })
      }
      await new Promise<void>(resolve => {
        const abort = (): void => { resolve() }
        signal.addEventListener('abort', abort, { once: true })
        void woken.then(() => { signal.removeEventListener('abort', abort); resolve() })
      })
    }
  } finally {
    libp2p.removeEventListener('peer:identify', onIdentify)
  }
}
