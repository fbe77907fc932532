/**
 * DIDAuth test stacks: a real embedded node on 127.0.0.1, a resolver over it, and a DidAuthService whose
 * identities are fixture keys (test/helpers/fixtures.ts); a raw stream for speaking the protocol badly on
 * purpose; signers from fixture keys; a clock tests move by hand.
 */
import { Writable } from 'node:stream'
import { buildDocument } from '../../src/did/document.ts'
import { createLogger } from '../../src/log.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { FramedStream } from '../../src/auth/framing.ts'
import { DIDAUTH_PROTOCOL } from '../../src/auth/messages.ts'
import { DidAuthService } from '../../src/auth/service.ts'
import { Metrics } from '../../src/metrics.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import type { DidAuthSigner } from '../../src/auth/proof.ts'
import type { DidAuthResolver, DidAuthServiceInit } from '../../src/auth/service.ts'
import type { DidDocument, VerificationRelationship } from '../../src/did/document.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { Logger } from '../../src/log.ts'
import type { Ed25519PrivateKey, Libp2p } from '@libp2p/interface'

/** A clock a test moves by hand, shared by every stack of the test so that proofs agree on the time. */
export interface TestClock {
  (): number
  advance: (ms: number) => void
}

export function testClock (startMs = Date.now()): TestClock {
  let now = startMs
  const clock = (() => now) as TestClock
  clock.advance = (ms: number) => { now += ms }
  return clock
}

/** Signs DIDAuth proofs with a fixture key as `<did>#<fragment>`. */
export function fixtureSigner (did: string, key: Ed25519PrivateKey, fragment = 'auth-1'): DidAuthSigner {
  return { did, keyId: `${did}#${fragment}`, sign: async data => key.sign(data) }
}

/** A document whose only key is `fragment`, listed under the given relationships. */
export function documentWithKey (did: string, key: Ed25519PrivateKey, fragment: string, purposes: VerificationRelationship[]): DidDocument {
  return buildDocument({ did, keys: [{ fragment, publicKey: key.publicKey, purposes }] })
}

export interface AuthStack {
  node: EmbeddedNode
  libp2p: Libp2p
  resolver: Resolver
  service: DidAuthService
  metrics: Metrics
  peerId: string
  address: string
  /** The identities this stack can act as (the default is `default`). */
  signers: Map<string, DidAuthSigner>
  stop: () => Promise<void>
}

/** The service's own options, passed through as they are. */
type ServiceOptions = Pick<DidAuthServiceInit, 'requirePeerProof' | 'autoAuthenticate' | 'limits' | 'maxConcurrentOutbound' | 'stepTimeoutMs' | 'sessionLifetimeMs' | 'sessionPruneIntervalMs' | 'logger'>

export interface AuthStackOptions extends ServiceOptions {
  clock: TestClock
  /** The identity proved by default; more can be added to `signers` later and used with `as`. */
  signer?: DidAuthSigner
  /** Another resolver than a fresh one over the node (e.g. one with a persistent cache). */
  resolver?: (node: EmbeddedNode) => DidAuthResolver & { stop?: () => void }
}

export async function startAuthStack (options: AuthStackOptions): Promise<AuthStack> {
  const node = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.start()
  const own = new Resolver({ backend: node, clock: options.clock, deadlineMs: 3000, refreshWaitMs: 500 })
  const resolver = options.resolver?.(node) ?? own
  const metrics = new Metrics()
  const signers = new Map<string, DidAuthSigner>()
  if (options.signer !== undefined) signers.set('default', options.signer)
  const service = new DidAuthService({
    libp2p: node.libp2p as Libp2p,
    resolver,
    clock: options.clock,
    metrics,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    signer: name => {
      if (name !== undefined && !signers.has(name)) throw new Error(`no identity ${name}`)
      return signers.get(name ?? 'default')
    },
    ...(options.requirePeerProof === undefined ? {} : { requirePeerProof: options.requirePeerProof }),
    ...(options.autoAuthenticate === undefined ? {} : { autoAuthenticate: options.autoAuthenticate }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.maxConcurrentOutbound === undefined ? {} : { maxConcurrentOutbound: options.maxConcurrentOutbound }),
    ...(options.stepTimeoutMs === undefined ? {} : { stepTimeoutMs: options.stepTimeoutMs }),
    ...(options.sessionLifetimeMs === undefined ? {} : { sessionLifetimeMs: options.sessionLifetimeMs }),
    ...(options.sessionPruneIntervalMs === undefined ? {} : { sessionPruneIntervalMs: options.sessionPruneIntervalMs })
  })
  await service.start()
  return {
    node,
    libp2p: node.libp2p as Libp2p,
    resolver: own,
    service,
    metrics,
    peerId: node.peerId.toString(),
    address: node.multiaddrs()[0]!,
    signers,
    stop: async () => {
      await service.stop()
      own.stop()
      await node.stop()
    }
  }
}

/** Connects every pair. */
export async function connectAll (nodes: Array<{ node: EmbeddedNode }>): Promise<void> {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.node.dial(nodes[j]!.node.multiaddrs()[0]!)
  }
}

/** A DIDAuth stream from one node to a peer it is connected to, framed, for scripted (and hostile) exchanges. */
export async function openRaw (from: Libp2p, to: string, stepTimeoutMs = 5000): Promise<FramedStream> {
  const connection = from.getConnections().find(c => c.remotePeer.toString() === to && c.status === 'open')
  if (connection === undefined) throw new Error(`not connected to ${to}`)
  return new FramedStream(await connection.newStream(DIDAUTH_PROTOCOL), { stepTimeoutMs })
}

/** A logger at debug level whose lines (parsed JSON) land in `lines`. */
export function capturingLogger (lines: Array<Record<string, unknown>>): Logger {
  return createLogger('debug', new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } }))
}

/** The value of a counter (by labels) in a stack's metrics. */
export async function counter (metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.filter(v => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((sum, v) => sum + v.value, 0)
}

/** The detail of the next `type` event on `target` that `accept` takes. */
export async function nextEvent<T> (target: EventTarget, type: string, accept: (detail: T) => boolean = () => true): Promise<T> {
  return new Promise(resolve => {
    const listener = (event: Event): void => {
      const { detail } = event as CustomEvent<T>
      if (!accept(detail)) return
      target.removeEventListener(type, listener)
      resolve(detail)
    }
    target.addEventListener(type, listener)
  })
}
