/**
 * A cache store many daemons share: PostgreSQL through `@keyv/postgres` (its pool runs our statements too).
 * The compare-and-swap is a single conditional UPDATE (or INSERT … ON CONFLICT DO NOTHING): PostgreSQL
 * locks the row and re-checks the condition, so racing daemons cannot both win.
 */
import KeyvPostgres from '@keyv/postgres'
import { BlockTable } from './blocks.ts'
import { CacheStoreError, MAX_EVICTIONS_PER_ROUND, chainOf, encodeEntry, readEntry, newToken, redactUrl } from './store.ts'
import type { CacheStore, PinKind, StoredEntry, StoredName } from './store.ts'

/** Tables are `<prefix>names`, `<prefix>pins` and `<prefix>blocks` (keyv's). */
export const POSTGRES_TABLE_PREFIX = 'ipidd_'
/** Connections per daemon; the server's own limit is shared by every daemon. */
export const POSTGRES_POOL_SIZE = 8
export const POSTGRES_CONNECT_TIMEOUT_MS = 5000

/**
 * `@keyv/postgres` keeps one connection pool per process, for one URL, and its `disconnect()` ends that pool
 * for every adapter in the process. So stores opened in one process share a URL, and the pool is ended only
 * when the last of them closes.
 */
const shared = { url: undefined as string | undefined, open: 0 }

export class PostgresStore implements CacheStore {
  readonly kind = 'postgres'
  private readonly url: string
  private readonly names: string
  private readonly pinTable: string
  private readonly blockTableName: string
  private adapter?: KeyvPostgres
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
    if (shared.open > 0 && shared.url !== this.url) {
      throw new CacheStoreError('one process can use one PostgreSQL URL at a time (a limit of @keyv/postgres, which shares one pool)')
    }
    let failure: Error | undefined
    const adapter = new KeyvPostgres({
      uri: this.url,
      table: this.blockTableName,
      max: POSTGRES_POOL_SIZE,
      connectionTimeoutMillis: POSTGRES_CONNECT_TIMEOUT_MS
    })
    // The adapter reports a failed connection as an 'error' event and then fails every query obscurely.
    adapter.on('error', (err: Error) => { failure ??= err })
    try {
      await adapter.query('SELECT 1')
      if (failure !== undefined) throw failure
      await adapter.query(`CREATE TABLE IF NOT EXISTS ${this.names} (
        id TEXT PRIMARY KEY, token TEXT NOT NULL, entry TEXT NOT NULL, used_ms BIGINT NOT NULL)`)
      await adapter.query(`CREATE INDEX IF NOT EXISTS ${this.names}_used ON ${this.names} (used_ms)`)
      await adapter.query(`CREATE TABLE IF NOT EXISTS ${this.pinTable} (id TEXT PRIMARY KEY, kind TEXT NOT NULL)`)
    } catch (err) {
      const cause = failure ?? err as Error
      if (shared.open === 0) await adapter.disconnect().catch(() => {})
      throw new CacheStoreError(`cannot use PostgreSQL at ${redactUrl(this.url)}: ${cause.message}`, { cause })
    }
    this.adapter = adapter
    this.blocks = new BlockTable(adapter)
    shared.url = this.url
    shared.open++
  }

  async close (): Promise<void> {
    if (this.adapter === undefined) return
    const adapter = this.adapter
    this.adapter = undefined
    this.blocks = undefined
    if (--shared.open === 0) await adapter.disconnect().catch(() => {})
  }

  async get (id: string): Promise<StoredEntry | undefined> {
    const rows = await this.query(`SELECT token, entry FROM ${this.names} WHERE id = $1`, [id]) as Array<{ token: string, entry: string }>
    const row = rows[0]
    return row === undefined ? undefined : readEntry(row.token, row.entry)
  }

  async swap (id: string, expected: string | undefined, entry: StoredName, nowMs: number): Promise<string | undefined> {
    const token = newToken()
    const text = encodeEntry(entry)
    const rows = expected === undefined
      ? await this.query(`INSERT INTO ${this.names} (id, token, entry, used_ms) VALUES ($1, $2, $3, $4)
          ON CONFLICT (id) DO NOTHING RETURNING id`, [id, token, text, nowMs])
      : await this.query(`UPDATE ${this.names} SET token = $2, entry = $3, used_ms = GREATEST(used_ms, $4)
          WHERE id = $1 AND token = $5 RETURNING id`, [id, token, text, nowMs, expected])
    return rows.length === 1 ? token : undefined
  }

  async putBlocks (blocks: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    await this.blockTable().put(blocks)
  }

  async getBlock (cid: string): Promise<Uint8Array | undefined> {
    return this.blockTable().get(cid)
  }

  async touch (used: ReadonlyMap<string, number>): Promise<void> {
    if (used.size === 0) return
    await this.query(`UPDATE ${this.names} AS n SET used_ms = GREATEST(n.used_ms, u.ms)
      FROM unnest($1::text[], $2::bigint[]) AS u(id, ms) WHERE n.id = u.id`, [[...used.keys()], [...used.values()]])
  }

  async setPin (id: string, kind: PinKind | undefined): Promise<void> {
    if (kind === undefined) await this.query(`DELETE FROM ${this.pinTable} WHERE id = $1`, [id])
    else await this.query(`INSERT INTO ${this.pinTable} (id, kind) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind`, [id, kind])
  }

  async pins (): Promise<Array<{ id: string, kind: PinKind }>> {
    return await this.query(`SELECT id, kind FROM ${this.pinTable} ORDER BY id`) as Array<{ id: string, kind: PinKind }>
  }

  async recent (sinceMs: number, limit: number): Promise<string[]> {
    const rows = await this.query(`SELECT id FROM ${this.names} WHERE used_ms >= $1 ORDER BY used_ms DESC LIMIT $2`, [sinceMs, limit]) as Array<{ id: string }>
    return rows.map(r => r.id)
  }

  async count (): Promise<number> {
    const rows = await this.query(`SELECT count(*) AS n FROM ${this.names}`) as Array<{ n: string }>
    return Number(rows[0]?.n ?? 0)
  }

  async evict (max: number): Promise<string[]> {
    const excess = Math.min(await this.count() - max, MAX_EVICTIONS_PER_ROUND)
    if (excess <= 0) return []
    const rows = await this.query(`DELETE FROM ${this.names} WHERE id IN (
        SELECT id FROM ${this.names} WHERE id NOT IN (SELECT id FROM ${this.pinTable})
        ORDER BY used_ms LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING id, entry`, [excess]) as Array<{ id: string, entry: string }>
    await this.blockTable().delete(rows.flatMap(r => chainOf(r.entry)))
    return rows.map(r => r.id)
  }

  private async query (sql: string, values?: unknown[]): Promise<unknown[]> {
    if (this.adapter === undefined) throw new CacheStoreError('the PostgreSQL cache is not open')
    return this.adapter.query(sql, values)
  }

  private blockTable (): BlockTable {
    if (this.blocks === undefined) throw new CacheStoreError('the PostgreSQL cache is not open')
    return this.blocks
  }
}
