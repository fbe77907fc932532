/**
 * The default cache store: one SQLite file in the data directory, through Node's built-in driver.
 * WAL journal, so readers never wait on the writer; `synchronous=NORMAL`, which in WAL mode keeps every
 * committed write across a crash of the process (kill -9) and may lose only the last commits on power loss —
 * acceptable for a cache whose every entry can be fetched and verified again.
 *
 * Its calls are synchronous and local: a signal is checked before each one (there is nothing to wait for).
 */
import { closeSync, openSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { BlockTable } from './blocks.ts'
import { NodeSqliteKeyvAdapter } from './keyv-sqlite.ts'
import { CacheStoreError, MAX_EVICTIONS_PER_ROUND, chainOf, checkSignal, encodeEntry, readEntry, newToken } from './store.ts'
import type { CacheStore, PinKind, StoreOptions, StoredEntry, StoredName } from './store.ts'
import type { StatementSync } from 'node:sqlite'

export const SQLITE_FILE_NAME = 'cache.sqlite'
/** How long a write waits for another connection's lock before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000

/** SQLite's result codes for a file that is damaged, or is no database at all. */
const SQLITE_CORRUPT = 11
const SQLITE_NOTADB = 26

/** The file opened but failed SQLite's integrity check. */
class DamagedFileError extends Error {}

export class SqliteStore implements CacheStore {
  readonly kind = 'sqlite'
  private readonly path: string
  private db?: DatabaseSync
  private blocks?: BlockTable
  private statements?: Record<'get' | 'insert' | 'update' | 'touch' | 'pinSet' | 'pinDelete' | 'pins' | 'recent' | 'count' | 'victims' | 'remove', StatementSync>

  constructor (path: string) {
    this.path = path
  }

  async open (): Promise<void> {
    try {
      // Created 0600 like every other file in the data directory; SQLite gives its WAL and shared-memory files
      // the database file's permissions.
      closeSync(openSync(this.path, 'a', 0o600))
      const db = new DatabaseSync(this.path)
      db.exec(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`)
      db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA synchronous = NORMAL')
      // Rowid tables: rows of a few KiB would overflow the pages of WITHOUT ROWID ones (measured: twice the size).
      db.exec(`CREATE TABLE IF NOT EXISTS names (
        id TEXT PRIMARY KEY, token TEXT NOT NULL, entry TEXT NOT NULL, used_ms INTEGER NOT NULL)`)
      db.exec('CREATE INDEX IF NOT EXISTS names_used ON names (used_ms)')
      db.exec('CREATE TABLE IF NOT EXISTS pins (id TEXT PRIMARY KEY, kind TEXT NOT NULL) WITHOUT ROWID')
      const integrity = db.prepare('PRAGMA quick_check').get() as { quick_check: string } | undefined
      if (integrity?.quick_check !== 'ok') throw new DamagedFileError(`integrity check failed: ${integrity?.quick_check ?? 'no answer'}`)
      this.blocks = new BlockTable(new NodeSqliteKeyvAdapter(db, 'keyv'))
      this.statements = {
        get: db.prepare('SELECT token, entry FROM names WHERE id = ?'),
        insert: db.prepare('INSERT INTO names (id, token, entry, used_ms) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING'),
        update: db.prepare('UPDATE names SET token = ?, entry = ?, used_ms = max(used_ms, ?) WHERE id = ? AND token = ?'),
        touch: db.prepare('UPDATE names SET used_ms = max(used_ms, ?) WHERE id = ?'),
        pinSet: db.prepare('INSERT INTO pins (id, kind) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind'),
        pinDelete: db.prepare('DELETE FROM pins WHERE id = ?'),
        pins: db.prepare('SELECT id, kind FROM pins ORDER BY id'),
        recent: db.prepare('SELECT id FROM names WHERE used_ms >= ? ORDER BY used_ms DESC LIMIT ?'),
        count: db.prepare('SELECT count(*) AS n FROM names'),
        victims: db.prepare('SELECT id, entry FROM names WHERE id NOT IN (SELECT id FROM pins) ORDER BY used_ms LIMIT ?'),
        remove: db.prepare('DELETE FROM names WHERE id = ?')
      }
      this.db = db
    } catch (err) {
      const code = (err as { errcode?: unknown }).errcode
      if (err instanceof DamagedFileError || code === SQLITE_CORRUPT || code === SQLITE_NOTADB) {
        // Not moved aside by the daemon: a damaged file can be the first sign of a failing disk, which the operator
        // should see; and deleting it loses nothing that the network and the data directory do not hold.
        throw new CacheStoreError(`the SQLite cache ${this.path} is damaged (${(err as Error).message}). It is only a cache: ` +
          `stop the daemon, delete it (with ${this.path}-wal and ${this.path}-shm), and start again; it is rebuilt from the ` +
          'network and the data directory', { cause: err })
      }
      throw new CacheStoreError(`cannot open the SQLite cache ${this.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    this.db?.close()
    this.db = undefined
  }

  async get (id: string, options: StoreOptions = {}): Promise<StoredEntry | undefined> {
    checkSignal(options.signal)
    const row = this.stmt().get.get(id) as { token: string, entry: string } | undefined
    return row === undefined ? undefined : readEntry(row.token, row.entry)
  }

  async swap (id: string, expected: string | undefined, entry: StoredName, nowMs: number, options: StoreOptions = {}): Promise<string | undefined> {
    checkSignal(options.signal)
    const token = newToken()
    const text = encodeEntry(entry)
    const result = expected === undefined
      ? this.stmt().insert.run(id, token, text, nowMs)
      : this.stmt().update.run(token, text, nowMs, id, expected)
    return Number(result.changes) === 1 ? token : undefined
  }

  async putBlocks (blocks: ReadonlyArray<readonly [string, Uint8Array]>, options: StoreOptions = {}): Promise<void> {
    checkSignal(options.signal)
    await this.blockTable().put(blocks)
  }

  async getBlock (cid: string, options: StoreOptions = {}): Promise<Uint8Array | undefined> {
    checkSignal(options.signal)
    return this.blockTable().get(cid)
  }

  async touch (used: ReadonlyMap<string, number>, options: StoreOptions = {}): Promise<void> {
    checkSignal(options.signal)
    if (used.size === 0) return
    this.transaction(() => { for (const [id, ms] of used) this.stmt().touch.run(ms, id) })
  }

  async setPin (id: string, kind: PinKind | undefined, options: StoreOptions = {}): Promise<void> {
    checkSignal(options.signal)
    if (kind === undefined) this.stmt().pinDelete.run(id)
    else this.stmt().pinSet.run(id, kind)
  }

  async pins (options: StoreOptions = {}): Promise<Array<{ id: string, kind: PinKind }>> {
    checkSignal(options.signal)
    return this.stmt().pins.all() as Array<{ id: string, kind: PinKind }>
  }

  async recent (sinceMs: number, limit: number, options: StoreOptions = {}): Promise<string[]> {
    checkSignal(options.signal)
    return (this.stmt().recent.all(sinceMs, limit) as Array<{ id: string }>).map(r => r.id)
  }

  async count (options: StoreOptions = {}): Promise<number> {
    checkSignal(options.signal)
    return Number((this.stmt().count.get() as { n: number | bigint }).n)
  }

  async evict (max: number, options: StoreOptions = {}): Promise<string[]> {
    checkSignal(options.signal)
    const excess = Math.min(await this.count() - max, MAX_EVICTIONS_PER_ROUND)
    if (excess <= 0) return []
    const victims = this.stmt().victims.all(excess) as Array<{ id: string, entry: string }>
    this.transaction(() => { for (const v of victims) this.stmt().remove.run(v.id) })
    await this.blockTable().delete(victims.flatMap(v => chainOf(v.entry)))
    return victims.map(v => v.id)
  }

  private transaction (work: () => void): void {
    const db = this.database()
    db.exec('BEGIN IMMEDIATE')
    try {
      work()
      db.exec('COMMIT')
    } catch (err) {
      db.exec('ROLLBACK')
      throw err
    }
  }

  private database (): DatabaseSync {
    if (this.db === undefined) throw new CacheStoreError('the SQLite cache is not open')
    return this.db
  }

  private stmt (): NonNullable<SqliteStore['statements']> {
    this.database()
    return this.statements!
  }

  private blockTable (): BlockTable {
    this.database()
    return this.blocks!
  }
}
