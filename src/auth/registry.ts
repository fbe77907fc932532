/**
 * The authenticated peers: PeerId → the DID it proved, with the key, the document version and where that
 * document came from. Events for the rest of the daemon: `authenticated` (a session began or was renewed) and
 * `ended` (the connection closed, the DID document changed, the session expired, another DID replaced it, or
 * the service stopped). Times by the injected clock.
 */
import { formatTime } from '../did/time.ts'
import type { Clock } from '../did/time.ts'

/** A session lasts at most this long; the peer authenticates again to renew it. */
export const SESSION_LIFETIME_MS = 60 * 60 * 1000
/** Sessions held at once: one per connected peer at most, and libp2p keeps far fewer connections. */
export const MAX_SESSIONS = 10_000

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

interface Entry { session: PeerSession, expiresAtMs: number }

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

  /** Records a verified peer; a session of another DID for the same peer ends (`replaced`). */
  add (fields: Omit<PeerSession, 'verifiedAt' | 'expiresAt'>): PeerSession {
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
    this.sessions.set(session.peerId, { session, expiresAtMs })
    this.dispatchEvent(new CustomEvent<PeerSession>('authenticated', { detail: session }))
    return session
  }

  get (peerId: string): PeerSession | undefined {
    this.prune()
    return this.sessions.get(peerId)?.session
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

  /** Ends the sessions of `did` that rest on another version than `versionId` (a new version was accepted). */
  documentChanged (did: string, versionId: string): void {
    for (const [peerId, { session }] of [...this.sessions]) {
      if (session.did === did && session.versionId !== versionId) this.end(peerId, 'document_changed')
    }
  }

  clear (reason: EndReason): void {
    for (const peerId of [...this.sessions.keys()]) this.end(peerId, reason)
  }

  private prune (): void {
    const now = this.clock()
    for (const [peerId, entry] of [...this.sessions]) if (entry.expiresAtMs <= now) this.end(peerId, 'expired')
  }
}
