/**
 * The backup resolve cache over a `CacheStore`: gives every store operation a deadline and times it, batches
 * use times (the LRU order) instead of writing on every hit, bounds the number of identities, and keeps pins.
 * Verification of what comes out is the resolver's job (it owns the rules); this layer only moves bytes.
 *
 * A shared store can stop answering (stopped, hung, failing over) or forget (a Redis restart without
 * persistence, FLUSHALL, an eviction policy). So no operation waits past its deadline — callers answer from
 * what they verified in memory meanwhile — and the pins this daemon holds in its data directory (its own
 * identities, its operator's pins) are the source of truth, re-asserted in the store every maintenance round.
 */
import { DEFAULT_MAX_IDENTITIES, withinSignal } from './store.ts'
import type { CacheStore, PinKind, StoreOptions, StoredEntry, StoredName } from './store.ts'
import type { Clock } from '../did/time.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'

/** How often use times are written, pins re-asserted and the size bound enforced. */
export const CACHE_MAINTENANCE_INTERVAL_MS = 5_000
/**
 * How long one store operation may take on a resolve's path before it fails with `store_timeout` (a lookup
 * by key takes milliseconds; node-redis queues commands while disconnected and pg has no query timeout, so
 * without a deadline a resolve waits as long as the store hangs). Short against the resolver's 2 s refresh wait
 * and the 3 s readiness deadline, long against a loaded server's latency.
 */
export const CACHE_STORE_DEADLINE_MS = 1_500
/** The deadline of the background writes of a maintenance round (use times, eviction): nobody waits on them. */
export const CACHE_MAINTENANCE_DEADLINE_MS = 30_000

/** The pins this daemon holds outside the store (its data directory): what the store is brought back to. */
export type LocalPins = () => Array<{ id: string, kind: PinKind }>

export interface CacheInit {
  store: CacheStore
  clock: Clock
  maxIdentities?: number
  logger?: Logger
  metrics?: Metrics
}

export class ResolveCache {
  readonly store: CacheStore
  readonly maxIdentities: number
  /**
   * Whether other daemons may write the store (Redis, PostgreSQL): then a daemon's memory is not the last word,
   * and each resolve checks the stored entry before answering from memory.
   */
  readonly shared: boolean
  private readonly clock: Clock
  private readonly logger?: Logger
  private readonly metrics?: Metrics
  private used = new Map<string, number>()
  private timer?: NodeJS.Timeout
  private maintaining?: Promise<void>
  private localPins?: LocalPins
  /** Pins removed here whose removal the store did not take yet: retried every maintenance round. */
  private readonly unpinsDue = new Set<string>()

  constructor (init: CacheInit) {
    this.store = init.store
    this.shared = init.store.kind !== 'sqlite'
    this.clock = init.clock
    this.maxIdentities = init.maxIdentities ?? DEFAULT_MAX_IDENTITIES
    this.logger = init.logger
    this.metrics = init.metrics
  }

  /** Opens the store and starts the maintenance timer (use times, size bound). */
  async start (): Promise<void> {
    await this.store.open()
    this.timer = setInterval(() => { this.maintain().catch(() => {}) }, CACHE_MAINTENANCE_INTERVAL_MS)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.maintain().catch(() => {})
    await this.store.close()
  }

  /** Makes `pins` the source of truth: merged into `pins()`, and re-asserted in the store (`reassertPins`). */
  keepPins (pins: LocalPins): void {
    this.localPins = pins
  }

  async read (id: string): Promise<StoredEntry | undefined> {
    const stored = await this.timed('get', async options => this.store.get(id, options))
    if (stored?.problem !== undefined) {
      this.metrics?.storeProblems.inc()
      this.logger?.warn({ id, problem: stored.problem }, 'a cached entry is unreadable; it will be replaced by the next verified record')
    }
    return stored
  }

  /** Stores the new blocks, then swaps the entry in if `expected` is still current. */
  async write (entry: StoredName, expected: string | undefined, blocks: ReadonlyArray<readonly [string, Uint8Array]>): Promise<string | undefined> {
    if (blocks.length > 0) await this.timed('putBlocks', async options => this.store.putBlocks(blocks, options))
    const token = await this.timed('swap', async options => this.store.swap(entry.id, expected, entry, this.clock(), options))
    if (token === undefined) this.metrics?.storeConflicts.inc()
    return token
  }

  async getBlock (cid: string): Promise<Uint8Array | undefined> {
    return this.timed('getBlock', async options => this.store.getBlock(cid, options))
  }

  /** A lookup of an id that is never stored, within the deadline (and `signal`): the readiness check. */
  async probe (signal?: AbortSignal): Promise<void> {
    await this.timed('probe', async options => this.store.get('readyz-probe', options), signal)
  }

  /** Notes a use; written in the next maintenance round. */
  use (id: string): void {
    this.used.set(id, this.clock())
  }

  async pin (id: string, kind: PinKind = 'pinned'): Promise<void> {
    this.unpinsDue.delete(id)
    await this.timed('pin', async options => this.store.setPin(id, kind, options))
  }

  /** Removes a pin from the store; if the store does not take it now, it is retried every maintenance round. */
  async unpin (id: string): Promise<void> {
    this.unpinsDue.add(id)
    await this.timed('pin', async options => this.store.setPin(id, undefined, options))
    this.unpinsDue.delete(id)
  }

  /**
   * The local pins (when kept) and the store's, by id; a local pin's kind wins. When the store does not answer,
   * the local ones alone: they are the ones this daemon answers for.
   */
  async pins (): Promise<Array<{ id: string, kind: PinKind }>> {
    const merged = new Map<string, PinKind>()
    try {
      for (const { id, kind } of await this.timed('pins', async options => this.store.pins(options))) merged.set(id, kind)
    } catch (err) {
      if (this.localPins === undefined) throw err
      this.logger?.warn({ err: (err as Error).message }, 'the cache store did not list its pins; using the data directory\'s')
    }
    for (const { id, kind } of this.localPins?.() ?? []) merged.set(id, kind)
    return [...merged].map(([id, kind]) => ({ id, kind })).sort((a, b) => a.id < b.id ? -1 : 1)
  }

  /**
   * Writes into the store every local pin it lacks (or holds with another kind), and removes the pins removed
   * here that it still holds; returns how many pins it wrote.
   */
  async reassertPins (): Promise<number> {
    for (const id of [...this.unpinsDue]) await this.unpin(id)
    const local = this.localPins?.() ?? []
    if (local.length === 0) return 0
    const stored = new Map((await this.timed('pins', async options => this.store.pins(options))).map(p => [p.id, p.kind]))
    const missing = local.filter(p => stored.get(p.id) !== p.kind)
    for (const { id, kind } of missing) await this.pin(id, kind)
    if (missing.length > 0) this.logger?.info({ count: missing.length }, 'pins missing from the cache store written back (the store lost them)')
    return missing.length
  }

  async recent (sinceMs: number, limit: number): Promise<string[]> {
    return this.timed('recent', async options => this.store.recent(sinceMs, limit, options))
  }

  async count (signal?: AbortSignal): Promise<number> {
    return this.timed('count', async options => this.store.count(options), signal)
  }

  /** Re-asserts pins, writes pending use times and evicts beyond the bound; one round at a time. */
  async maintain (): Promise<void> {
    this.maintaining ??= (async () => {
      try {
        await this.reassertPins()
        const used = this.used
        this.used = new Map()
        if (used.size > 0) await this.timed('touch', async options => this.store.touch(used, options), undefined, CACHE_MAINTENANCE_DEADLINE_MS)
        const evicted = await this.timed('evict', async options => this.store.evict(this.maxIdentities, options), undefined, CACHE_MAINTENANCE_DEADLINE_MS)
        if (evicted.length > 0) {
          this.metrics?.evictions.inc(evicted.length)
          this.logger?.info({ count: evicted.length, max: this.maxIdentities }, 'least recently used identities evicted from the cache')
        }
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message }, 'cache maintenance failed')
        throw err
      } finally {
        this.maintaining = undefined
      }
    })()
    return this.maintaining
  }

  /**
   * Runs one store operation within `deadlineMs` (and `signal`): past it the caller gets `store_timeout` at once,
   * whatever the store does with the signal.
   */
  private async timed<T> (op: string, work: (options: StoreOptions) => Promise<T>, signal?: AbortSignal, deadlineMs = CACHE_STORE_DEADLINE_MS): Promise<T> {
    const deadline = AbortSignal.timeout(deadlineMs)
    const combined = signal === undefined ? deadline : AbortSignal.any([deadline, signal])
    const run = async (): Promise<T> => withinSignal(combined, async () => work({ signal: combined }))
    return this.metrics === undefined ? run() : this.metrics.timeStore(this.store.kind, op, run)
  }
}
