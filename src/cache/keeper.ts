/**
 * The keeper: puts the signed records the cache holds back on the network (DHT and IPNS over pubsub) before
 * the DHT forgets them (about 48 hours after a put), for as long as they are valid — the daemon's own
 * identities, pinned ones and, optionally, every identity resolved lately. It signs nothing: it re-sends
 * records exactly as their owners signed them, so it needs no keys and cannot change an identity.
 *
 * Rounds follow the injected clock (checked by a real-time ticker), so a test can move time by days.
 */
import { parseDid } from '../did/identifier.ts'
import { formatTime } from '../did/time.ts'
import { validateRecord } from '../ipns/record.ts'
import type { ResolveCache } from './cache.ts'
import type { Clock } from '../did/time.ts'
import type { IpfsBackend } from '../ipfs/backend.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'

/** Time between rounds: far inside the DHT's ~48 h record expiry, as Kubo's republisher (4 h) does. */
export const DEFAULT_KEEPER_INTERVAL_MS = 4 * 60 * 60 * 1000
/** Rounds start up to this fraction of the interval early or late, so many daemons do not move in step. */
export const KEEPER_JITTER = 0.1
/** How often the ticker looks at the clock. */
export const KEEPER_TICK_MS = 30_000
export const DEFAULT_KEEPER_CONCURRENCY = 4
/** With `keepResolved`, identities resolved within this window are kept too. */
export const DEFAULT_KEEP_RESOLVED_WINDOW_MS = 24 * 60 * 60 * 1000
/** Most resolved (unpinned) identities one round republishes. */
export const MAX_KEPT_RESOLVED = 10_000
/** Deadline of one record's put. */
export const KEEPER_PUT_DEADLINE_MS = 30_000

export interface KeeperInit {
  backend: IpfsBackend
  cache: ResolveCache
  clock: Clock
  logger?: Logger
  metrics?: Metrics
  intervalMs?: number
  concurrency?: number
  /** Also keep identities resolved within `resolvedWindowMs` (not only own and pinned ones). */
  keepResolved?: boolean
  resolvedWindowMs?: number
  tickMs?: number
  /** Fetches a pinned identity the cache does not hold yet (the resolver's resolve). */
  fetch?: (did: string) => Promise<unknown>
  random?: () => number
}

export interface KeeperRound {
  startedAt: string
  kept: number
  republished: number
  failed: number
  /** Held records past their EOL: the keeper cannot renew them, only their owner can. */
  expired: number
  /** Pinned identities not held (yet). */
  missing: number
}

export class Keeper {
  private readonly init: KeeperInit
  private readonly intervalMs: number
  private nextRunAtMs: number
  private timer?: NodeJS.Timeout
  private running?: Promise<KeeperRound>
  last?: KeeperRound

  constructor (init: KeeperInit) {
    this.init = init
    this.intervalMs = init.intervalMs ?? DEFAULT_KEEPER_INTERVAL_MS
    // The first round comes soon after start: records may have been waiting while the daemon was down.
    this.nextRunAtMs = init.clock() + this.jitter(Math.min(this.intervalMs, 60_000))
  }

  start (): void {
    this.timer = setInterval(() => { this.tick() }, this.init.tickMs ?? KEEPER_TICK_MS)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.running?.catch(() => {})
  }

  /** Runs a round if one is due by the clock. */
  tick (): void {
    if (this.running !== undefined || this.init.clock() < this.nextRunAtMs) return
    this.runOnce().catch((err: Error) => { this.init.logger?.warn({ err: err.message }, 'keeper round failed') })
  }

  /** One round now (one at a time); schedules the next. */
  async runOnce (): Promise<KeeperRound> {
    this.running ??= this.round().finally(() => {
      this.running = undefined
      this.nextRunAtMs = this.init.clock() + this.jitter(this.intervalMs)
    })
    return this.running
  }

  private async round (): Promise<KeeperRound> {
    const { cache, clock, logger } = this.init
    const now = clock()
    const round: KeeperRound = { startedAt: formatTime(now), kept: 0, republished: 0, failed: 0, expired: 0, missing: 0 }
    // The pins of the data directory even while the store does not answer (ResolveCache.pins).
    const pins = await cache.pins()
    const ids = new Set(pins.map(p => p.id))
    if (this.init.keepResolved === true) {
      // Only the store knows what was resolved lately: while it does not answer, the pins are kept alone.
      const recent = await cache.recent(now - (this.init.resolvedWindowMs ?? DEFAULT_KEEP_RESOLVED_WINDOW_MS), MAX_KEPT_RESOLVED).catch((err: Error) => {
        logger?.warn({ err: err.message }, 'keeper: the cache store did not list the identities resolved lately; keeping the pinned ones')
        return []
      })
      for (const id of recent) ids.add(id)
    }
    round.kept = ids.size
    const queue = [...ids]
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const outcome = await this.keep(id)
        round[outcome]++
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, this.init.concurrency ?? DEFAULT_KEEPER_CONCURRENCY) }, worker))
    this.last = round
    logger?.info({ ...round }, 'keeper round done')
    return round
  }

  private async keep (id: string): Promise<'republished' | 'failed' | 'expired' | 'missing'> {
    const { backend, cache, clock, logger, metrics } = this.init
    try {
      const name = parseDid(`did:ipid:${id}`)
      let stored = await cache.read(id)
      if (stored?.entry === undefined && this.init.fetch !== undefined) {
        await this.init.fetch(name.did)
        stored = await cache.read(id)
      }
      if (stored?.entry === undefined) {
        metrics?.keeperFailures.inc({ reason: 'missing' })
        return 'missing'
      }
      // Verified again: a record the keeper spreads must be one any node accepts.
      const record = await validateRecord(name, stored.entry.record, clock(), { allowExpired: true })
      if (record.validUntilMs <= clock()) {
        metrics?.keeperFailures.inc({ reason: 'expired' })
        return 'expired'
      }
      await backend.putRecord(name, record.bytes, { signal: AbortSignal.timeout(KEEPER_PUT_DEADLINE_MS) })
      metrics?.keeperRepublishes.inc()
      return 'republished'
    } catch (err) {
      metrics?.keeperFailures.inc({ reason: 'error' })
      logger?.warn({ id, err: (err as Error).message }, 'keeper could not republish a record')
      return 'failed'
    }
  }

  private jitter (ms: number): number {
    const random = this.init.random ?? Math.random
    return Math.round(ms * (1 + KEEPER_JITTER * (2 * random() - 1)))
  }
}
