/**
 * The backup resolve cache over a `CacheStore`: times every store operation, batches use times (the LRU
 * order) instead of writing on every hit, bounds the number of identities, and keeps pins. Verification of
 * what comes out is the resolver's job (it owns the rules); this layer only moves bytes.
 */
import { DEFAULT_MAX_IDENTITIES } from './store.ts'
import type { CacheStore, PinKind, StoredEntry, StoredName } from './store.ts'
import type { Clock } from '../did/time.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'

/** How often use times are written and the size bound enforced. */
export const CACHE_MAINTENANCE_INTERVAL_MS = 5_000

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

  async read (id: string): Promise<StoredEntry | undefined> {
    const stored = await this.timed('get', async () => this.store.get(id))
    if (stored?.problem !== undefined) {
      this.metrics?.storeProblems.inc()
      this.logger?.warn({ id, problem: stored.problem }, 'a cached entry is unreadable; it will be replaced by the next verified record')
    }
    return stored
  }

  /** Stores the new blocks, then swaps the entry in if `expected` is still current. */
  async write (entry: StoredName, expected: string | undefined, blocks: ReadonlyArray<readonly [string, Uint8Array]>): Promise<string | undefined> {
    if (blocks.length > 0) await this.timed('putBlocks', async () => this.store.putBlocks(blocks))
    const token = await this.timed('swap', async () => this.store.swap(entry.id, expected, entry, this.clock()))
    if (token === undefined) this.metrics?.storeConflicts.inc()
    return token
  }

  async getBlock (cid: string): Promise<Uint8Array | undefined> {
    return this.timed('getBlock', async () => this.store.getBlock(cid))
  }

  /** Notes a use; written in the next maintenance round. */
  use (id: string): void {
    this.used.set(id, this.clock())
  }

  async pin (id: string, kind: PinKind = 'pinned'): Promise<void> {
    await this.timed('pin', async () => this.store.setPin(id, kind))
  }

  async unpin (id: string): Promise<void> {
    await this.timed('pin', async () => this.store.setPin(id, undefined))
  }

  async pins (): Promise<Array<{ id: string, kind: PinKind }>> {
    return this.timed('pins', async () => this.store.pins())
  }

  async recent (sinceMs: number, limit: number): Promise<string[]> {
    return this.timed('recent', async () => this.store.recent(sinceMs, limit))
  }

  async count (): Promise<number> {
    return this.timed('count', async () => this.store.count())
  }

  /** Writes pending use times and evicts beyond the bound; one round at a time. */
  async maintain (): Promise<void> {
    this.maintaining ??= (async () => {
      try {
        const used = this.used
        this.used = new Map()
        if (used.size > 0) await this.timed('touch', async () => this.store.touch(used))
        const evicted = await this.timed('evict', async () => this.store.evict(this.maxIdentities))
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

  private async timed<T> (op: string, work: () => Promise<T>): Promise<T> {
    return this.metrics === undefined ? work() : this.metrics.timeStore(this.store.kind, op, work)
  }
}
