/**
 * How much DIDAuth work peers can cause (spec/didauth.md §6): inbound handshakes in flight overall and per peer,
 * and handshakes a peer may start per minute (a token bucket per PeerId, by the injected clock). A handshake
 * costs a signature, a resolve and a verification, so each one is paid for before any of that happens. The
 * handshakes this side starts have a budget of their own, so that a flood of inbound ones never keeps this side
 * from authenticating the peers it wants to.
 */
import type { Clock } from '../did/time.ts'

export interface DidAuthLimits {
  /** Inbound handshakes in flight at once, all peers together: beyond it, `busy`. */
  maxConcurrent: number
  /** Inbound handshakes in flight at once from one peer: beyond it, `too_many_handshakes`. */
  maxConcurrentPerPeer: number
  /** Inbound handshakes one peer may start per minute, on average: beyond it, `rate_limited`. */
  perPeerPerMinute: number
  /** Inbound handshakes one peer may start at once after a quiet spell (the bucket's size). */
  burst: number
}

/**
 * Inbound handshakes at once, all peers together: 64 cost a few ms of CPU each; a daemon with hundreds of peers
 * rarely runs more than a few.
 */
export const MAX_CONCURRENT_HANDSHAKES = 64
/** Two per peer: the peer's own handshake plus one retry, or both directions of auto-authentication. */
export const MAX_CONCURRENT_HANDSHAKES_PER_PEER = 2
/** One handshake per peer every 2 s on average: sessions last an hour, so an honest peer needs a handful. */
export const HANDSHAKES_PER_PEER_PER_MINUTE = 30
export const HANDSHAKE_BURST = 10
/** Peers whose buckets are kept; beyond it the fullest (least recently refilled) are dropped first. */
export const MAX_TRACKED_PEERS = 10_000
/**
 * Handshakes this side starts that may be in flight at once (`authenticate`, automatic authentication of new
 * connections, the admin API), apart from the inbound budget: beyond it, `busy` for the caller. Peers cannot
 * use it up; half the inbound budget is plenty for a daemon's own needs.
 */
export const MAX_CONCURRENT_OUTBOUND_HANDSHAKES = 32

export const DEFAULT_DIDAUTH_LIMITS: Readonly<DidAuthLimits> = Object.freeze({
  maxConcurrent: MAX_CONCURRENT_HANDSHAKES,
  maxConcurrentPerPeer: MAX_CONCURRENT_HANDSHAKES_PER_PEER,
  perPeerPerMinute: HANDSHAKES_PER_PEER_PER_MINUTE,
  burst: HANDSHAKE_BURST
})

const MINUTE_MS = 60_000

export type LimitRefusal = 'busy' | 'too_many_handshakes' | 'rate_limited'

export interface Permit {
  release: () => void
}

interface Bucket { tokens: number, atMs: number, inFlight: number, warned: boolean }

/** A permit whose release frees its slot once, however often it is called. */
function permit (free: () => void): Permit {
  let released = false
  return { release: () => { if (!released) { released = true; free() } } }
}

export class HandshakeLimiter {
  readonly limits: DidAuthLimits
  /** Outbound handshakes in flight at once (MAX_CONCURRENT_OUTBOUND_HANDSHAKES unless given). */
  readonly maxOutbound: number
  private readonly clock: Clock
  private readonly buckets = new Map<string, Bucket>()
  private inFlight = 0
  private outFlight = 0

  constructor (limits: Partial<DidAuthLimits> = {}, clock: Clock = () => Date.now(), options: { maxOutbound?: number } = {}) {
    this.limits = { ...DEFAULT_DIDAUTH_LIMITS, ...limits }
    this.maxOutbound = options.maxOutbound ?? MAX_CONCURRENT_OUTBOUND_HANDSHAKES
    this.clock = clock
  }

  /** Handshakes in flight now, both roles. */
  get active (): number { return this.inFlight + this.outFlight }
  /** Inbound handshakes in flight now. */
  get activeInbound (): number { return this.inFlight }
  /** Outbound handshakes in flight now. */
  get activeOutbound (): number { return this.outFlight }

  /**
   * A slot for an inbound handshake from `peer`, or why not. A refusal that empties a full bucket for the first
   * time says so (`firstRefusal`), so a flood is logged once rather than once per stream.
   */
  inbound (peer: string): Permit | { refused: LimitRefusal, firstRefusal: boolean } {
    if (this.inFlight >= this.limits.maxConcurrent) return { refused: 'busy', firstRefusal: false }
    const bucket = this.bucket(peer)
    if (bucket.inFlight >= this.limits.maxConcurrentPerPeer) return { refused: 'too_many_handshakes', firstRefusal: false }
    if (bucket.tokens < 1) {
      const first = !bucket.warned
      bucket.warned = true
      return { refused: 'rate_limited', firstRefusal: first }
    }
    bucket.tokens -= 1
    bucket.warned = false
    bucket.inFlight++
    this.inFlight++
    return permit(() => {
      bucket.inFlight--
      this.inFlight--
    })
  }

  /** A slot for a handshake we start: only the outbound budget applies, whatever comes in. */
  outbound (): Permit | { refused: 'busy' } {
    if (this.outFlight >= this.maxOutbound) return { refused: 'busy' }
    this.outFlight++
    return permit(() => { this.outFlight-- })
  }

  private bucket (peer: string): Bucket {
    const now = this.clock()
    let bucket = this.buckets.get(peer)
    if (bucket === undefined) {
      bucket = { tokens: this.limits.burst, atMs: now, inFlight: 0, warned: false }
      if (this.buckets.size >= MAX_TRACKED_PEERS) this.forgetOne()
      this.buckets.set(peer, bucket)
      return bucket
    }
    const elapsed = Math.max(0, now - bucket.atMs)
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + elapsed * this.limits.perPeerPerMinute / MINUTE_MS)
    bucket.atMs = now
    // Most recently used last, so the first entries are the ones to forget.
    this.buckets.delete(peer)
    this.buckets.set(peer, bucket)
    return bucket
  }

  private forgetOne (): void {
    for (const [peer, bucket] of this.buckets) {
      if (bucket.inFlight === 0) {
        this.buckets.delete(peer)
        return
      }
    }
  }
}
