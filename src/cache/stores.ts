/**
 * Chooses the cache store from a URL: none or `sqlite:` → the SQLite file in the data directory (the default,
 * nothing to install); `sqlite:<path>`; `redis://` / `rediss://`; `postgres://` / `postgresql://`.
 */
import { isAbsolute, join } from 'node:path'
import { PostgresStore } from './postgres-store.ts'
import { RedisStore } from './redis-store.ts'
import { SQLITE_FILE_NAME, SqliteStore } from './sqlite-store.ts'
import { CacheStoreError } from './store.ts'
import type { CacheStore } from './store.ts'

export function createStore (url: string | undefined, dataDir: string): CacheStore {
  if (url === undefined || url === '' || url === 'sqlite:') return new SqliteStore(join(dataDir, SQLITE_FILE_NAME))
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    return new SqliteStore(isAbsolute(path) ? path : join(dataDir, path))
  }
  if (/^rediss?:\/\//.test(url)) return new RedisStore(url)
  if (/^postgres(ql)?:\/\//.test(url)) return new PostgresStore(url)
  throw new CacheStoreError('the cache URL must start with sqlite:, redis://, rediss://, postgres:// or postgresql://')
}
