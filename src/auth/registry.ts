/**
 * The authenticated peers: PeerId → the DID it proved, with the key, the document version and where that
 * document came from, and the libp2p connection the proof was made on. Events for the rest of the daemon:
 * `authenticated` (a session began or was renewed) and `ended` (its connection closed, the DID document changed,
 * the session expired, another DID replaced it, or the service stopped). Times by the injected clock; expired
 * sessions are ended by `prune()`, which the service calls every SESSION_PRUNE_INTERVAL_MS (and get/list too).
 */
import { formatTime } from '../did/time.ts'
import type { Clock } from '../did/time.ts'

/** A session lasts at most this long; the peer authenticates again to renew it. */
export const SESSION_LIFETIME_MS = 60 * 60 * 1000
/** Sessions held at once: one per connected peer at most, and libp2p keeps far fewer connections. */
export const MAX_SESSIONS = 10_000
/**
 * How often the service looks for expired sessions, so that each one ends (event `ended`, reason `expired`, the
 * sessions gauge updated) within this long of its `expiresAt`, even if nobody reads the registry.
 */
export const SESSION_PRUNE_INTERVAL_MS = 60_000

export interface PeerSession {
  peerId: string
  did: string
  /** The verification method that signed the proof (`<did>#auth-N`). */
  keyId: string
  /** The document version the key was found in. */
  versionId?: string
  /** Where the verifier's resolver had that document from: `network`, `pubsub`, `offer`, `cache`, `verified-state`. */
  source?: string
  verifiedAt: string
  expiresAt: string
}

export type EndReason = 'disconnected' | 'document_changed' | 'expired' | 'replaced' | 'stopped'

export interface SessionEnded {
  session: PeerSession
  reason: EndReason
}

interface Entry {
  session: PeerSession
  expiresAtMs: number
  /** The libp2p connection (its `id`) the peer proved itself on: the session ends when it closes. */
  connectionId?: string
}

/** Where a session was established. */
export interface SessionOrigin {
  /** The id of the libp2p connection the handshake ran on. */
  connectionId?: string
}

export class PeerRegistry extends EventTarget {
  private readonly clock: Clock
  private readonly lifetimeMs: number
  private readonly sessions = new Map<string, Entry>()

  constructor (options: { clock: Clock, lifetimeMs?: number }) {
    super()
    this.clock = options.clock
    this.lifetimeMs = options.lifetimeMs ?? SESSION_LIFETIME_MS
  }

  get size (): number { return this.sessions.size }

  /**
   * Records a verified peer, on the connection it proved itself on; a session of another DID for the same peer
   * ends (`replaced`). A renewal moves the session to the connection of the latest handshake.
   */
  add (fields: Omit<PeerSession, 'verifiedAt' | 'expiresAt'>, origin: SessionOrigin = {}): PeerSession {
    const now = this.clock()
    const expiresAtMs = now + this.lifetimeMs
    const session: PeerSession = { ...fields, verifiedAt: formatTime(now), expiresAt: formatTime(expiresAtMs) }
    const previous = this.sessions.get(session.peerId)
    if (previous !== undefined && previous.session.did !== session.did) this.end(session.peerId, 'replaced')
    this.sessions.delete(session.peerId)
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value
      if (oldest !== undefined) this.end(oldest, 'expired')
    }
    this.sessions.set(session.peerId, { session, expiresAtMs, ...(origin.connectionId === undefined ? {} : { connectionId: origin.connectionId }) })
    this.dispatchEvent(new CustomEvent<PeerSession>('authenticated', { detail: session }))
    return session
  }

  /** The peer's session, unless its time is up (then it ends now, `expired`). */
  get (peerId: string): PeerSession | undefined {
    const entry = this.sessions.get(peerId)
    if (entry === undefined) return undefined
    if (entry.expiresAtMs <= this.clock()) {
      this.end(peerId, 'expired')
      return undefined
    }
    return entry.session
  }

  list (): PeerSession[] {
    this.prune()
    return [...this.sessions.values()].map(e => e.session)
  }

  /** Ends a peer's session, if it has one. */
  end (peerId: string, reason: EndReason): void {
    const entry = this.sessions.get(peerId)
    if (entry === undefined) return
    this.sessions.delete(peerId)
    this.dispatchEvent(new CustomEvent<SessionEnded>('ended', { detail: { session: entry.session, reason } }))
  }

  /** The id of the connection a peer's session was established on, if it has a session. */
  connectionOf (peerId: string): string | undefined {
    return this.sessions.get(peerId)?.connectionId
  }

  /**
   * Ends the sessions established on a connection that closed (`disconnected`), even when the peer still has
   * another connection: what was proved is bound to this one.
   */
  connectionClosed (connectionId: string): void {
    for (const [peerId, entry] of [...this.sessions]) {
      if (entry.connectionId === connectionId) this.end(peerId, 'disconnected')
    }
  }

  /** Ends the sessions of `did` that rest on another version than `versionId` (a new version was accepted). */
  documentChanged (did: string, versionId: string): void {
    for (const [peerId, { session }] of [...this.sessions]) {
      if (session.did === did && session.versionId !== versionId) this.end(peerId, 'document_changed')
    }
  }

  clear (reason: EndReason): void {
    for (const peerId of [...this.sessions.keys()]) this.end(peerId, reason)
  }

  /** Ends every session whose time is up (`expired`), each with its `ended` event. */
  prune (): void {
    const now = this.clock()
    for (const [peerId, entry] of [...this.sessions]) if (entry.expiresAtMs <= now) this.end(peerId, 'expired')
  }
}
