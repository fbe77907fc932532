/**
 * Freshness: nonces (32 bytes from the CSPRNG, single use, short-lived) and the set of proofs already accepted,
 * so that no proof is ever accepted twice. Both go by an injected clock and are bounded in size.
 */
import { randomBytes } from 'node:crypto'
import { base64url } from 'multiformats/bases/base64'
import { NONCE_BYTES } from './messages.ts'
import type { Clock } from '../did/time.ts'

/**
 * How long a nonce stays usable after it is issued. A handshake takes three steps of at most STEP_TIMEOUT_MS
 * (10 s) each; a proof over a nonce older than that cannot belong to a handshake still running.
 */
export const NONCE_TTL_MS = 30_000
/** Nonces live at once; more than the concurrent handshakes allowed, which each hold one. */
export const MAX_LIVE_NONCES = 4096
/** Accepted proofs remembered at once (each until its `exp` plus the skew): at 1000 handshakes/s, 90 s of them. */
export const MAX_REMEMBERED_PROOFS = 100_000

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
