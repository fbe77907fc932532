/**
 * A cache store many daemons share: PostgreSQL through `pg`, with `@keyv/postgres` for the block table.
 * The compare-and-swap is a single conditional UPDATE (or INSERT … ON CONFLICT DO NOTHING): PostgreSQL
 * locks the row and re-checks the condition, so racing daemons cannot both win.
 *
 * The store owns its connection pool. `@keyv/postgres` 2.2 keeps one pool per process, hidden, with no `'error'`
 * listener: when the server ends idle connections (`pg_ctl restart`, a failover, a crash) the pool emits
 * `'error'` and Node exits. Ours listens, drops the dead connection (pg does) and connects anew on the next
 * query; the keyv adapter is handed this pool instead of making its own.
 */
import KeyvPostgres from '@keyv/postgres'
import pg from 'pg'
import { BlockTable } from './blocks.ts'
import { CacheStoreError, MAX_EVICTIONS_PER_ROUND, chainOf, encodeEntry, readEntry, newToken, redactUrl, withinSignal } from './store.ts'
import type { CacheStore, PinKind, StoreOptions, StoredEntry, StoredName } from './store.ts'

/** Tables are `<prefix>names`, `<prefix>pins` and `<prefix>blocks` (keyv's). */
export const POSTGRES_TABLE_PREFIX = 'ipidd_'
/** Connections per daemon; the server's own limit is shared by every daemon. */
export const POSTGRES_POOL_SIZE = 8
export const POSTGRES_CONNECT_TIMEOUT_MS = 5000
/**
 * pg's own query timeout, beyond every caller's deadline (the longest is a maintenance round's 30 s): a query
 * abandoned at its caller's deadline still holds a pooled connection until the server answers; past this, pg
 * fails it and the pool discards the connection, so a server that never answers (a partition, a failover to
 * another host) cannot keep the whole pool.
 */
export const POSTGRES_QUERY_TIMEOUT_MS = 60_000

/** `@keyv/postgres` running its statements on a pool it is given (its constructor calls `connect()`). */
class PooledKeyvPostgres extends KeyvPostgres {
  constructor (pool: pg.Pool, table: string) {
    super({ table, pool } as ConstructorParameters<typeof KeyvPostgres>[0])
  }

  override async connect (): Promise<(sql: string, values?: unknown[]) => Promise<unknown[]>> {
    const { pool } = this.opts as unknown as { pool: pg.Pool }
    return async (sql, values) => (await pool.query(sql, values)).rows
  }

  override async disconnect (): Promise<void> {} // the store ends its pool
}

export class PostgresStore implements CacheStore {
  readonly kind = 'postgres'
  private readonly url: string
  private readonly names: string
  private readonly pinTable: string
  private readonly blockTableName: string
  private pool?: pg.Pool
  private blocks?: BlockTable

  /** `prefix` keeps stores apart in one database (tests use a fresh one each). */
  constructor (url: string, options: { prefix?: string } = {}) {
    const prefix = options.prefix ?? POSTGRES_TABLE_PREFIX
    if (!/^[a-z_][a-z0-9_]*$/.test(prefix)) throw new CacheStoreError(`invalid table prefix ${prefix}`)
    this.url = url
    this.names = `${prefix}names`
    this.pinTable = `${prefix}pins`
    this.blockTableName = `${prefix}blocks`
  }

  async open (): Promise<void> {
    const pool = new pg.Pool({
      connectionString: this.url,
      max: POSTGRES_POOL_SIZE,
      connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS,
      query_timeout: POSTGRES_QUERY_TIMEOUT_MS,
      keepAlive: true // a peer that vanished without closing (a failover to another host) is noticed
    })
    // Without a listener a server restart kills the process. Nothing to do here: the pool has already dropped
    // the dead connection, and a query that was running on it failed with its own error.
    pool.on('error', () => {})
    let failure: Error | undefined
    try {
      await pool.query('SELECT 1')
      const adapter = new PooledKeyvPostgres(pool, this.blockTableName)
      // The adapter creates its table in its constructor and reports a failure as an 'error' event.
      adapter.on('error', (err: Error) => { failure ??= err })
      await adapter.query('SELECT 1')
      if (failure !== undefined) throw failure
      await pool.query(`CREATE TABLE IF NOT EXISTS ${this.names} (
        id TEXT PRIMARY KEY, token TEXT NOT NULL, entry TEXT NOT NULL, used_ms BIGINT NOT NULL)`)
      await pool.query(`CREATE INDEX IF NOT EXISTS ${this.names}_used ON ${this.names} (used_ms)`)
      await pool.query(`CREATE TABLE IF NOT EXISTS ${this.pinTable} (id TEXT PRIMARY KEY, kind TEXT NOT NULL)`)
      this.blocks = new BlockTable(adapter)
    } catch (err) {
      const cause = failure ?? err as Error
      await pool.end().catch(() => {})
      throw new CacheStoreError(`cannot use PostgreSQL at ${redactUrl(this.url)}: ${cause.message}`, { cause })
    }
    this.pool = pool
  }

  async close (): Promise<void> {
    const pool = this.pool
    this.pool = undefined
    this.blocks = undefined
    await pool?.end().catch(() => {})
  }

  async get (id: string, options: StoreOptions = {}): Promise<StoredEntry | undefined> {
    const rows = await this.query(`SELECT token, entry FROM ${this.names} WHERE id = $1`, [id], options.signal) as Array<{ token: string, entry: string }>
    const row = rows[0]
    return row === undefined ? undefined : readEntry(row.token, row.entry)
  }

  async swap (id: string, expected: string | undefined, entry: StoredName, nowMs: number, options: StoreOptions = {}): Promise<string | undefined> {
    const token = newToken()
    const text = encodeEntry(entry)
    const rows = expected === undefined
      ? await this.query(`INSERT INTO ${this.names} (id, token, entry, used_ms) VALUES ($1, $2, $3, $4)
          ON CONFLICT (id) DO NOTHING RETURNING id`, [id, token, text, nowMs], options.signal)
      : await this.query(`UPDATE ${this.names} SET token = $2, entry = $3, used_ms = GREATEST(used_ms, $4)
          WHERE id = $1 AND token = $5 RETURNING id`, [id, token, text, nowMs, expected], options.signal)
    return rows.length === 1 ? token : undefined
  }

  async putBlocks (blocks: ReadonlyArray<readonly [string, Uint8Array]>, options: StoreOptions = {}): Promise<void> {
    await this.blockTable().put(blocks, options.signal)
  }

  async getBlock (cid: string, options: StoreOptions = {}): Promise<Uint8Array | undefined> {
    return this.blockTable().get(cid, options.signal)
  }

  async touch (used: ReadonlyMap<string, number>, options: StoreOptions = {}): Promise<void> {
    if (used.size === 0) return
    await this.query(`UPDATE ${this.names} AS n SET used_ms = GREATEST(n.used_ms, u.ms)
      FROM unnest($1::text[], $2::bigint[]) AS u(id, ms) WHERE n.id = u.id`, [[...used.keys()], [...used.values()]], options.signal)
  }

  async setPin (id: string, kind: PinKind | undefined, options: StoreOptions = {}): Promise<void> {
    if (kind === undefined) await this.query(`DELETE FROM ${this.pinTable} WHERE id = $1`, [id], options.signal)
    else await this.query(`INSERT INTO ${this.pinTable} (id, kind) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind`, [id, kind], options.signal)
  }

  async pins (options: StoreOptions = {}): Promise<Array<{ id: string, kind: PinKind }>> {
    return await this.query(`SELECT id, kind FROM ${this.pinTable} ORDER BY id`, [], options.signal) as Array<{ id: string, kind: PinKind }>
  }

  async recent (sinceMs: number, limit: number, options: StoreOptions = {}): Promise<string[]> {
    const rows = await this.query(`SELECT id FROM ${this.names} WHERE used_ms >= $1 ORDER BY used_ms DESC LIMIT $2`, [sinceMs, limit], options.signal) as Array<{ id: string }>
    return rows.map(r => r.id)
  }

  async count (options: StoreOptions = {}): Promise<number> {
    const rows = await this.query(`SELECT count(*) AS n FROM ${this.names}`, [], options.signal) as Array<{ n: string }>
    return Number(rows[0]?.n ?? 0)
  }

  async evict (max: number, options: StoreOptions = {}): Promise<string[]> {
    const excess = Math.min(await this.count(options) - max, MAX_EVICTIONS_PER_ROUND)
    if (excess <= 0) return []
    const rows = await this.query(`DELETE FROM ${this.names} WHERE id IN (
        SELECT id FROM ${this.names} WHERE id NOT IN (SELECT id FROM ${this.pinTable})
        ORDER BY used_ms LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING id, entry`, [excess], options.signal) as Array<{ id: string, entry: string }>
    await this.blockTable().delete(rows.flatMap(r => chainOf(r.entry)), options.signal)
    return rows.map(r => r.id)
  }

  /** pg cannot cancel a query it sent: past the signal the query is abandoned, and its connection returns when it ends. */
  private async query (sql: string, values: unknown[], signal: AbortSignal | undefined): Promise<unknown[]> {
    const pool = this.pool
    if (pool === undefined) throw new CacheStoreError('the PostgreSQL cache is not open')
    return withinSignal(signal, async () => (await pool.query(sql, values)).rows)
  }

  private blockTable (): BlockTable {
    if (this.blocks === undefined) throw new CacheStoreError('the PostgreSQL cache is not open')
    return this.blocks
  }
}
