/**
 * The CacheStore contract against each real store: a SQLite file, and the Redis and PostgreSQL servers that
 * `.ci/run` (or `source scripts/test-services.sh`) starts. In CI a missing server is a failure, not a skip.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { describe, expect, it } from 'vitest'
import { PostgresStore } from '../../src/cache/postgres-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { SqliteStore } from '../../src/cache/sqlite-store.ts'
import { CacheStoreError } from '../../src/cache/store.ts'
import { createStore } from '../../src/cache/stores.ts'
import { entry, storeContract } from './store-contract.ts'
import { serviceUrl } from '../helpers/services.ts'

let places = 0
const unique = (): string => `t${process.pid}_${Date.now().toString(36)}_${places++}_`

storeContract('sqlite', {
  fresh: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-store-'))
    return {
      open: async () => { const s = new SqliteStore(join(dir, 'cache.sqlite')); await s.open(); return s },
      dispose: async () => { rmSync(dir, { recursive: true, force: true }) }
    }
  }
})

const redisUrl = serviceUrl('IPIDD_TEST_REDIS_URL')
describe.skipIf(redisUrl === undefined)('redis store', () => {
  storeContract('redis', {
    fresh: async () => {
      const prefix = `ipidd-${unique()}:`
      return { open: async () => { const s = new RedisStore(redisUrl!, { prefix }); await s.open(); return s } }
    }
  })
})

const postgresUrl = serviceUrl('IPIDD_TEST_POSTGRES_URL')
describe.skipIf(postgresUrl === undefined)('postgres store', () => {
  storeContract('postgres', {
    fresh: async () => {
      const prefix = unique()
      return { open: async () => { const s = new PostgresStore(postgresUrl!, { prefix }); await s.open(); return s } }
    }
  })
})

describe('store selection and failures', () => {
  it('chooses the store from the URL and refuses unknown schemes', () => {
    expect(createStore(undefined, '/data').kind).toBe('sqlite')
    expect(createStore('sqlite:other.db', '/data').kind).toBe('sqlite')
    expect(createStore('redis://127.0.0.1:1', '/data').kind).toBe('redis')
    expect(createStore('postgresql://u@127.0.0.1:1/db', '/data').kind).toBe('postgres')
    expect(() => createStore('mysql://x', '/data')).toThrow(CacheStoreError)
  })

  it('names an unreachable Redis without leaking its password', async () => {
    const store = new RedisStore('redis://:s3cret@127.0.0.1:1')
    const failure = await store.open().then(() => undefined, (err: unknown) => err as Error)
    expect(failure).toBeInstanceOf(CacheStoreError)
    expect(failure?.message).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
    expect(failure?.message).not.toContain('s3cret')
  })

  it('names an unreachable PostgreSQL without leaking its password', async () => {
    const store = new PostgresStore('postgres://me:s3cret@127.0.0.1:1/db')
    const failure = await store.open().then(() => undefined, (err: unknown) => err as Error)
    expect(failure).toBeInstanceOf(CacheStoreError)
    expect(failure?.message).toMatch(/cannot use PostgreSQL at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/db/)
    expect(failure?.message).not.toContain('s3cret')
  })

  it('reports a corrupted SQLite entry as a problem instead of serving it, and lets a good one replace it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-store-'))
    try {
      const path = join(dir, 'cache.sqlite')
      const store = new SqliteStore(path)
      await store.open()
      await store.swap('k51bad', undefined, entry('k51bad', 1), 1)
      const raw = new DatabaseSync(path)
      raw.prepare('UPDATE names SET entry = ? WHERE id = ?').run('{"v":1,"id":"k51bad","record":"!!"}', 'k51bad')
      raw.close()
      const read = await store.get('k51bad')
      expect(read?.entry).toBeUndefined()
      expect(read?.problem).toMatch(/a stored entry is malformed/)
      // A verified record can still replace it, by its token.
      expect(await store.swap('k51bad', read?.token, entry('k51bad', 2), 2)).toBeTypeOf('string')
      expect((await store.get('k51bad'))?.entry?.sequence).toBe(2n)
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('creates the SQLite files readable by their owner only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-store-'))
    try {
      const path = join(dir, 'cache.sqlite')
      const store = new SqliteStore(path)
      await store.open()
      await store.swap('k51mode', undefined, entry('k51mode', 1), 1)
      const { statSync } = await import('node:fs')
      for (const file of [path, `${path}-wal`]) expect(statSync(file).mode & 0o777).toBe(0o600)
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses to open a file that is not a SQLite database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-store-'))
    try {
      const path = join(dir, 'cache.sqlite')
      const { writeFileSync } = await import('node:fs')
      writeFileSync(path, 'this is not a database, it is a text file that is long enough to have a header')
      await expect(new SqliteStore(path).open()).rejects.toThrow(/the SQLite cache .* is damaged .* It is only a cache/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
