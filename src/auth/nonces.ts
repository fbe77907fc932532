/**
 * Freshness: nonces (32 bytes from the CSPRNG, single use, short-lived) and the set of proofs already accepted,
 * so that no proof is ever accepted twice. Both go by an injected clock and are bounded in size.
 */
import { randomBytes } from 'node:crypto'
import { base64url } from 'multiformats/bases/base64'
import { STEP_TIMEOUT_MS } from './framing.ts'
import { NONCE_BYTES } from './messages.ts'
import type { Clock } from '../did/time.ts'

/**
 * Step deadlines a nonce outlives. From the moment a side issues its nonce to the moment the proof over it is
 * checked, at most three steps pass (the responder: its challenge's write, the proof's read, then the
 * verification; the initiator: the hello's write and the challenge's read), each bounded by the step deadline.
 */
export const NONCE_TTL_STEPS = 3
/**
 * How long a nonce stays usable after it is issued, at the least: NONCE_TTL_STEPS default step deadlines
 * (STEP_TIMEOUT_MS, 10 s). With a longer configured step deadline the lifetime grows with it
 * (`nonceLifetimeMs`), so that an honest slow peer never fails with `expired_nonce`.
 */
export const NONCE_TTL_MS = NONCE_TTL_STEPS * STEP_TIMEOUT_MS
/** Nonces live at once; more than the concurrent handshakes allowed, which each hold one. */
export const MAX_LIVE_NONCES = 4096
/** Accepted proofs remembered at once (each until its `exp` plus the skew): at 1000 handshakes/s, 90 s of them. */
export const MAX_REMEMBERED_PROOFS = 100_000

/**
 * The lifetime of this side's nonces for a given step deadline: max(NONCE_TTL_MS, NONCE_TTL_STEPS × stepTimeoutMs).
 * A proof over an older nonce cannot belong to a handshake still running.
 */
export function nonceLifetimeMs (stepTimeoutMs: number = STEP_TIMEOUT_MS): number {
  return Math.max(NONCE_TTL_MS, NONCE_TTL_STEPS * stepTimeoutMs)
}

/** A fresh nonce: NONCE_BYTES from the CSPRNG, base64url without padding. */
export function newNonce (): string {
  return base64url.baseEncode(randomBytes(NONCE_BYTES))
}

export type NonceCheck = 'ok' | 'unknown' | 'expired'

/** The nonces this side issued and has not yet seen used. */
export class NonceStore {
  private readonly clock: Clock
  private readonly ttlMs: number
  private readonly generate: () => string
  /** nonce → expiry (ms); insertion order is issue order, so the oldest are first. */
  private readonly live = new Map<string, number>()

  constructor (options: { clock: Clock, ttlMs?: number, generate?: () => string }) {
    this.clock = options.clock
    this.ttlMs = options.ttlMs ?? NONCE_TTL_MS
    this.generate = options.generate ?? newNonce
  }

  get size (): number { return this.live.size }

  /** How long each nonce issued here stays usable. */
  get lifetimeMs (): number { return this.ttlMs }

  issue (): string {
    this.sweep()
    if (this.live.size >= MAX_LIVE_NONCES) {
      // Only leaked nonces (handshakes that never released theirs) can fill the store: drop the oldest.
      const oldest = this.live.keys().next().value
      if (oldest !== undefined) this.live.delete(oldest)
    }
    const nonce = this.generate()
    this.live.set(nonce, this.clock() + this.ttlMs)
    return nonce
  }

  /** Uses a nonce up: `ok` once, then `unknown`; `expired` when its time has passed. */
  consume (nonce: string): NonceCheck {
    const expires = this.live.get(nonce)
    if (expires === undefined) return 'unknown'
    this.live.delete(nonce)
    return expires <= this.clock() ? 'expired' : 'ok'
  }

  /**
   * True when `nonce` is one this side issued, not yet used and not expired: a peer that sends it back as its
   * own nonce is reflecting our challenge (spec/didauth.md §10). Does not use the nonce up.
   */
  isLive (nonce: string): boolean {
    const expires = this.live.get(nonce)
    return expires !== undefined && expires > this.clock()
  }

  /** Forgets a nonce whose handshake ended. */
  release (nonce: string): void {
    this.live.delete(nonce)
  }

  private sweep (): void {
    const now = this.clock()
    for (const [nonce, expires] of this.live) {
      if (expires > now) break
      this.live.delete(nonce)
    }
  }
}

/** Proofs accepted, by signature, until they expire: a proof is never accepted twice. */
export class ReplaySet {
  private readonly clock: Clock
  private readonly max: number
  /** signature id → until (ms). */
  private readonly seen = new Map<string, number>()

  constructor (options: { clock: Clock, max?: number }) {
    this.clock = options.clock
    this.max = options.max ?? MAX_REMEMBERED_PROOFS
  }

  get size (): number { return this.seen.size }

  has (id: string): boolean {
    const until = this.seen.get(id)
    if (until === undefined) return false
    if (until <= this.clock()) {
      this.seen.delete(id)
      return false
    }
    return true
  }

  add (id: string, untilMs: number): void {
    const now = this.clock()
    // Entries are added with nearly the same lifetime, so the oldest inserted expire first.
    for (const [key, until] of this.seen) {
      if (until > now && this.seen.size < this.max) break
      this.seen.delete(key)
    }
    this.seen.set(id, untilMs)
  }
}
