/**
 * DidAuthService: DIDAuth on a libp2p node. It answers `/ipid/didauth/1.0.0` (responder), authenticates peers
 * on request or on every new connection (initiator), keeps the registry of authenticated peers, and ends
 * sessions when the connection they were proved on closes, when they expire, or when the DID document changes.
 * Limits, metrics and logs as spec/didauth.md §6.
 */
import { isPeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { systemClock } from '../did/time.ts'
import { DidAuthError, asDidAuthError, describeCause } from './errors.ts'
import { FramedStream, STEP_TIMEOUT_MS } from './framing.ts'
import { Initiator, Responder, runInitiator, runResponder } from './handshake.ts'
import { HandshakeLimiter } from './limits.ts'
import { DIDAUTH_PROTOCOL } from './messages.ts'
import { NonceStore, ReplaySet, nonceLifetimeMs } from './nonces.ts'
import { RESOLVE_DEADLINE_MS } from './proof.ts'
import { PeerRegistry, SESSION_PRUNE_INTERVAL_MS } from './registry.ts'
import type { HandshakeDeps, HandshakeResult } from './handshake.ts'
import type { DidAuthLimits } from './limits.ts'
import type { DidAuthSigner, VerifiedProof } from './proof.ts'
import type { PeerSession } from './registry.ts'
import type { Clock } from '../did/time.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { DidResolutionResult, ResolveOptions, VersionChange } from '../resolver/resolver.ts'
import type { Connection, IdentifyResult, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** How long `authenticate` may take to connect to a peer it is not connected to. */
export const DIAL_TIMEOUT_MS = 10_000
/**
 * DIDAuth streams libp2p lets one connection open at once. A few more than the per-peer limit, so that the
 * excess gets a reasoned refusal; beyond this libp2p resets new streams itself.
 */
export const MAX_INBOUND_STREAMS_PER_CONNECTION = 8
export const MAX_OUTBOUND_STREAMS_PER_CONNECTION = 8

/** What the service needs of ipidd's resolver. */
export interface DidAuthResolver {
  resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult>
  onChange?: (listener: (change: VersionChange) => void) => () => void
}

export interface DidAuthServiceInit {
  /** The libp2p node (`EmbeddedNode.libp2p`). */
  libp2p: Libp2p
  resolver: DidAuthResolver
  /**
   * This side's identity: `signer()` the one it acts as by default (as responder, and as initiator without
   * `as`), `signer(name)` a named one. Undefined: no identity (or its key is locked), so this side proves nothing.
   */
  signer?: (name?: string) => DidAuthSigner | undefined
  /** Refuse initiators that do not prove a DID (default false: anyone may learn who we are). */
  requirePeerProof?: boolean
  /** Authenticate every new connection whose peer speaks DIDAuth (default false). */
  autoAuthenticate?: boolean
  limits?: Partial<DidAuthLimits>
  /** Handshakes this side starts in flight at once (default MAX_CONCURRENT_OUTBOUND_HANDSHAKES), apart from `limits`. */
  maxConcurrentOutbound?: number
  /** The step deadline; this side's nonces live `nonceLifetimeMs(stepTimeoutMs)`. */
  stepTimeoutMs?: number
  sessionLifetimeMs?: number
  /** How often expired sessions are ended (default SESSION_PRUNE_INTERVAL_MS). */
  sessionPruneIntervalMs?: number
  clock?: Clock
  logger?: Logger
  metrics?: Metrics
}

export interface AuthenticateOptions {
  /** Act as this identity (its authentication key must be unlocked): `identity_locked` otherwise. */
  as?: string
  signal?: AbortSignal
}

export interface ConnectionHandshakeOptions extends AuthenticateOptions {
  /** Ask the peer to prove its DID (default true); without its proof the handshake fails with `proof_required`. */
  wantProof?: boolean
}

/** The result of one initiator handshake: the peer's session, when it proved a DID. */
export interface ConnectionHandshake {
  session?: PeerSession
}

type Role = 'initiator' | 'responder'

export class DidAuthService {
  readonly registry: PeerRegistry
  readonly limiter: HandshakeLimiter
  private readonly libp2p: Libp2p
  private readonly resolver: DidAuthResolver
  private readonly signer?: (name?: string) => DidAuthSigner | undefined
  private readonly requirePeerProof: boolean
  private readonly autoAuthenticate: boolean
  private readonly stepTimeoutMs: number
  private readonly sessionPruneIntervalMs: number
  private pruneTimer?: NodeJS.Timeout
  private readonly clock: Clock
  private readonly logger?: Logger
  private readonly metrics?: Metrics
  private readonly nonces: NonceStore
  private readonly replay: ReplaySet
  private controller = new AbortController()
  private running = false
  private unsubscribe?: () => void
  /** Peers an automatic handshake is running with, so that identify pushes do not start a second one. */
  private readonly autoInFlight = new Set<string>()

  constructor (init: DidAuthServiceInit) {
    this.libp2p = init.libp2p
    this.resolver = init.resolver
    if (init.signer !== undefined) this.signer = init.signer
    this.requirePeerProof = init.requirePeerProof ?? false
    this.autoAuthenticate = init.autoAuthenticate ?? false
    this.stepTimeoutMs = init.stepTimeoutMs ?? STEP_TIMEOUT_MS
    this.sessionPruneIntervalMs = init.sessionPruneIntervalMs ?? SESSION_PRUNE_INTERVAL_MS
    this.clock = init.clock ?? systemClock
    this.logger = init.logger
    this.metrics = init.metrics
    this.limiter = new HandshakeLimiter(init.limits, this.clock, init.maxConcurrentOutbound === undefined ? {} : { maxOutbound: init.maxConcurrentOutbound })
    this.nonces = new NonceStore({ clock: this.clock, ttlMs: nonceLifetimeMs(this.stepTimeoutMs) })
    this.replay = new ReplaySet({ clock: this.clock })
    this.registry = new PeerRegistry({ clock: this.clock, ...(init.sessionLifetimeMs === undefined ? {} : { lifetimeMs: init.sessionLifetimeMs }) })
    const gauge = (): void => { this.metrics?.didauthSessions.set(this.registry.size) }
    this.registry.addEventListener('authenticated', gauge)
    this.registry.addEventListener('ended', gauge)
  }

  /** Handshakes in flight now (both roles). */
  get activeHandshakes (): number { return this.limiter.active }

  async start (): Promise<void> {
    if (this.running) return
    this.controller = new AbortController()
    await this.libp2p.handle(DIDAUTH_PROTOCOL, (stream, connection) => this.respond(stream, connection), {
      maxInboundStreams: MAX_INBOUND_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS_PER_CONNECTION
    })
    this.libp2p.addEventListener('connection:close', this.onConnectionClose)
    if (this.autoAuthenticate) this.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.unsubscribe = this.resolver.onChange?.(change => { this.registry.documentChanged(change.did, change.versionId) })
    this.pruneTimer = setInterval(() => { this.registry.prune() }, this.sessionPruneIntervalMs)
    this.pruneTimer.unref()
    this.running = true
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.controller.abort()
    this.unsubscribe?.()
    clearInterval(this.pruneTimer)
    this.libp2p.removeEventListener('connection:close', this.onConnectionClose)
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    await this.libp2p.unhandle(DIDAUTH_PROTOCOL).catch(() => {})
    this.registry.clear('stopped')
  }

  /**
   * Connects to a peer (a multiaddr, or a PeerId it is connected to or can find) and authenticates it: the peer
   * must prove its DID. Resolves with the peer's session; throws a DidAuthError otherwise.
   */
  async authenticate (target: string | PeerId | Multiaddr, options: AuthenticateOptions = {}): Promise<PeerSession> {
    if (!this.running) throw new DidAuthError('stopped', 'the DIDAuth service is not running')
    this.signerFor(options.as) // an unusable identity fails before any dialling
    const connection = await this.connect(target, options.signal)
    const { session } = await this.authenticateConnection(connection, { ...options, wantProof: true })
    if (session === undefined) throw new DidAuthError('proof_required', 'the peer did not prove a DID')
    return session
  }

  /**
   * One initiator handshake on an open connection (what benchmarks time). With `wantProof` (the default) the
   * peer must prove its DID, and its session is returned.
   */
  async authenticateConnection (connection: Connection, options: ConnectionHandshakeOptions = {}): Promise<ConnectionHandshake> {
    if (!this.running) throw new DidAuthError('stopped', 'the DIDAuth service is not running')
    const signer = this.signerFor(options.as)
    const peer = connection.remotePeer.toString()
    const permit = this.limiter.outbound()
    if ('refused' in permit) {
      this.refused('initiator', peer, new DidAuthError(permit.refused, 'too many handshakes in flight'))
      throw new DidAuthError(permit.refused, 'too many DIDAuth handshakes are in flight; try again later')
    }
    const startedMs = performance.now()
    const signal = this.signal(options.signal)
    try {
      let stream: Stream
      try {
        stream = await connection.newStream(DIDAUTH_PROTOCOL, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.stepTimeoutMs)]) })
      } catch (err) {
        if ((err as Error).name === 'UnsupportedProtocolError') throw new DidAuthError('protocol_not_supported', `the peer does not speak ${DIDAUTH_PROTOCOL}`, { cause: err })
        throw new DidAuthError(signal.aborted ? 'stopped' : 'unreachable', `could not open a DIDAuth stream: ${(err as Error).message}`, { cause: err })
      }
      const initiator = new Initiator({ initiator: this.libp2p.peerId.toString(), responder: peer }, this.deps(signer), { wantProof: options.wantProof ?? true })
      const result = await runInitiator(stream, initiator, { stepTimeoutMs: this.stepTimeoutMs, signal })
      const session = this.succeeded('initiator', connection, result)
      return session === undefined ? {} : { session }
    } catch (err) {
      const failure = asDidAuthError(err)
      this.refused('initiator', peer, failure)
      throw failure
    } finally {
      permit.release()
      this.metrics?.didauthSeconds.observe({ role: 'initiator' }, (performance.now() - startedMs) / 1000)
    }
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const permit = this.limiter.inbound(peer)
    if ('refused' in permit) {
      const failure = new DidAuthError(permit.refused, 'handshake limit reached')
      // A flood is logged once per emptied bucket; concurrency refusals only in debug (the metrics count them all).
      this.refused('responder', peer, failure, permit.refused === 'rate_limited' && permit.firstRefusal ? 'info' : 'debug')
      await new FramedStream(stream, { stepTimeoutMs: this.stepTimeoutMs }).refuse(permit.refused)
      return
    }
    const startedMs = performance.now()
    try {
      let signer: DidAuthSigner | undefined
      try {
        signer = this.signer?.()
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'DIDAuth: the configured identity cannot be used; answering without proving')
      }
      const responder = new Responder({ initiator: peer, responder: this.libp2p.peerId.toString() }, this.deps(signer), { requirePeerProof: this.requirePeerProof })
      const result = await runResponder(stream, responder, { stepTimeoutMs: this.stepTimeoutMs, signal: this.controller.signal })
      this.succeeded('responder', connection, result)
    } catch (err) {
      this.refused('responder', peer, asDidAuthError(err))
    } finally {
      permit.release()
      this.metrics?.didauthSeconds.observe({ role: 'responder' }, (performance.now() - startedMs) / 1000)
    }
  }

  private deps (signer: DidAuthSigner | undefined): HandshakeDeps {
    const signal = this.controller.signal
    return {
      clock: this.clock,
      resolve: async did => this.resolver.resolve(did, { deadlineMs: RESOLVE_DEADLINE_MS, signal }),
      nonces: this.nonces,
      replay: this.replay,
      ...(signer === undefined ? {} : { signer })
    }
  }

  /** The signer to initiate with: the named identity (which must be usable), or the default one if any. */
  private signerFor (name: string | undefined): DidAuthSigner | undefined {
    if (name === undefined) {
      try {
        return this.signer?.()
      } catch {
        return undefined
      }
    }
    const signer = this.signer?.(name) // an unknown identity throws its own error (IdentityError unknown_identity)
    if (signer === undefined) throw new DidAuthError('identity_locked', `the authentication key of "${name}" is not unlocked in this daemon (or the identity is deactivated)`)
    return signer
  }

  private signal (extra: AbortSignal | undefined): AbortSignal {
    return extra === undefined ? this.controller.signal : AbortSignal.any([this.controller.signal, extra])
  }

  private async connect (target: string | PeerId | Multiaddr, signal: AbortSignal | undefined): Promise<Connection> {
    let address: PeerId | Multiaddr
    if (typeof target === 'string') {
      try {
        address = target.startsWith('/') ? multiaddr(target) : peerIdFromString(target)
      } catch {
        throw new DidAuthError('bad_address', 'the address is neither a multiaddr nor a PeerId')
      }
    } else {
      address = target
    }
    if (isPeerId(address)) {
      const open = this.libp2p.getConnections(address).find(c => c.status === 'open')
      if (open !== undefined) return open
    }
    try {
      return await this.libp2p.dial(address, { signal: AbortSignal.any([this.signal(signal), AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
    } catch (err) {
      throw new DidAuthError('unreachable', `could not connect to the peer: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * A handshake that went through: records the peer's session, bound to the connection it ran on — only while
   * that connection is open (a session on a closed one would never end by `connection:close`). A connection that
   * closed as the handshake ended fails it (`stream_closed`).
   */
  private succeeded (role: Role, connection: Connection, result: HandshakeResult): PeerSession | undefined {
    const peer = connection.remotePeer.toString()
    if (result.peer !== undefined && connection.status !== 'open') {
      throw new DidAuthError('stream_closed', 'the connection closed as the handshake ended: no session is recorded')
    }
    this.metrics?.didauthHandshakes.inc({ role, outcome: 'ok' })
    if (result.peer === undefined) {
      this.logger?.debug({ peer, role }, 'DIDAuth handshake done; the peer proved no DID')
      return undefined
    }
    const before = this.registry.get(peer)
    const session = this.record(peer, connection.id, result.peer)
    // A new or changed session is news; a renewal (benchmarks, repeated checks) is not.
    const level = before?.did === session.did && before.versionId === session.versionId ? 'debug' : 'info'
    this.logger?.[level]({ peer, role, did: session.did, keyId: session.keyId, versionId: session.versionId, source: session.source }, 'peer authenticated')
    return session
  }

  private record (peer: string, connectionId: string, proof: VerifiedProof): PeerSession {
    return this.registry.add({
      peerId: peer,
      did: proof.did,
      keyId: proof.keyId,
      ...(proof.versionId === undefined ? {} : { versionId: proof.versionId }),
      ...(proof.source === undefined ? {} : { source: proof.source })
    }, { connectionId })
  }

  /** Counts and logs a failed handshake: reasons and PeerIds only, never a proof, nonce or key. */
  private refused (role: Role, peer: string, failure: DidAuthError, level: 'info' | 'debug' = 'info'): void {
    this.metrics?.didauthHandshakes.inc({ role, outcome: failure.remote ? 'rejected' : 'refused' })
    if (!failure.remote) this.metrics?.didauthRefused.inc({ reason: failure.reason })
    this.logger?.[level]({ peer, role, reason: failure.reason, byPeer: failure.remote }, 'DIDAuth handshake failed')
    // An unexpected failure of ours: what went wrong, for whoever debugs it (never sent; never a proof, nonce or key).
    if (failure.reason === 'internal_error' && !failure.remote) {
      this.logger?.debug({ peer, role, reason: failure.reason, cause: describeCause(failure) }, 'DIDAuth internal error')
    }
  }

  /** A connection closed: the sessions proved on it end, whatever other connections the peer has. */
  private readonly onConnectionClose = (event: CustomEvent<Connection>): void => {
    this.registry.connectionClosed(event.detail.id)
  }

  private readonly onIdentify = (event: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols, connection } = event.detail
    const peer = peerId.toString()
    if (!protocols.includes(DIDAUTH_PROTOCOL) || this.autoInFlight.has(peer) || this.registry.get(peer) !== undefined) return
    this.autoInFlight.add(peer)
    this.authenticateConnection(connection)
      .catch((err: unknown) => { this.logger?.debug({ peer, reason: asDidAuthError(err).reason }, 'automatic DIDAuth failed') })
      .finally(() => { this.autoInFlight.delete(peer) })
  }
}
