/**
 * A keyv store adapter over Node's built-in `node:sqlite`.
 *
 * Why not `@keyv/sqlite`: its stable line (4.x) needs the native `sqlite3` add-on and keyv 5's peer range
 * only loosely; its 6.x line is a pre-release that depends on the native `better-sqlite3`. Native add-ons
 * compile from source on machines without prebuilt binaries (a minute each), while `node:sqlite` ships with
 * Node ≥ 22. The adapter is the handful of methods keyv calls.
 */
import { EventEmitter } from 'node:events'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { KeyvStoreAdapter, StoredData } from 'keyv'

export class NodeSqliteKeyvAdapter extends EventEmitter implements KeyvStoreAdapter {
  readonly opts: { dialect: 'sqlite', table: string }
  namespace?: string
  private readonly db: DatabaseSync
  private readonly select: StatementSync
  private readonly upsert: StatementSync
  private readonly remove: StatementSync

  constructor (db: DatabaseSync, table: string) {
    super()
    if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`invalid table name ${table}`)
    this.db = db
    this.opts = { dialect: 'sqlite', table }
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)
    this.select = db.prepare(`SELECT value FROM ${table} WHERE key = ?`)
    this.upsert = db.prepare(`INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
    this.remove = db.prepare(`DELETE FROM ${table} WHERE key = ?`)
  }

  async get<Value> (key: string): Promise<StoredData<Value> | undefined> {
    const row = this.select.get(key) as { value: string } | undefined
    return row?.value as StoredData<Value> | undefined
  }

  async getMany<Value> (keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return Promise.all(keys.map(async key => this.get<Value>(key)))
  }

  async set (key: string, value: unknown): Promise<void> {
    this.upsert.run(key, String(value))
  }

  async setMany (entries: Array<{ key: string, value: unknown }>): Promise<void> {
    this.transaction(() => { for (const { key, value } of entries) this.upsert.run(key, String(value)) })
  }

  async delete (key: string): Promise<boolean> {
    return Number(this.remove.run(key).changes) > 0
  }

  async deleteMany (keys: string[]): Promise<boolean> {
    let any = false
    this.transaction(() => { for (const key of keys) any = Number(this.remove.run(key).changes) > 0 || any })
    return any
  }

  async has (key: string): Promise<boolean> {
    return this.select.get(key) !== undefined
  }

  async clear (): Promise<void> {
    const prefix = this.namespace === undefined ? '' : `${this.namespace}:`
    this.db.prepare(`DELETE FROM ${this.opts.table} WHERE substr(key, 1, ?) = ?`).run(prefix.length, prefix)
  }

  async disconnect (): Promise<void> {}

  private transaction (work: () => void): void {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      work()
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }
}
