/**
 * A cache store many daemons share: Redis through `@keyv/redis`. Each name is a hash {token, entry}; a sorted
 * set orders names by last use; a hash holds pins. The compare-and-swap is one Lua script, which Redis runs
 * atomically, so daemons racing to store records of one name cannot interleave.
 */
import KeyvRedis from '@keyv/redis'
import { BlockTable } from './blocks.ts'
import { CacheStoreError, MAX_EVICTIONS_PER_ROUND, chainOf, encodeEntry, readEntry, newToken, redactUrl, withinSignal } from './store.ts'
import type { CacheStore, PinKind, StoreOptions, StoredEntry, StoredName } from './store.ts'

/** Prefix of every key ipidd writes, so one Redis can hold other data too. */
export const REDIS_KEY_PREFIX = 'ipidd:'
export const REDIS_CONNECT_TIMEOUT_MS = 5000


// KEYS: name hash, used zset. ARGV: expected token ('' = none), new token, entry, used ms, id.
const SWAP = `
local current = redis.call('HGET', KEYS[1], 'token')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'entry', ARGV[3])
local used = redis.call('ZSCORE', KEYS[2], ARGV[5])
if (not used) or tonumber(used) < tonumber(ARGV[4]) then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) end
return 1`

// KEYS: used zset. ARGV: ms, id — only raises the score, and only of names that exist.
const TOUCH = `
local used = redis.call('ZSCORE', KEYS[1], ARGV[2])
if used and tonumber(used) < tonumber(ARGV[1]) then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end
return 1`

/**
 * A `redis://` URL gives a single-node client (not cluster or sentinel): commands take just their words. Its
 * `abortSignal` drops a command still queued (while the client reconnects); one already sent waits for its reply.
 */
interface Client { sendCommand: (args: string[], options?: { abortSignal?: AbortSignal }) => Promise<unknown> }

export class RedisStore implements CacheStore {
  readonly kind = 'redis'
  private readonly url: string
  private readonly prefix: string
  private adapter?: KeyvRedis<string>
  private client?: Client
  private blocks?: BlockTable

  /** `prefix` keeps stores apart in one Redis (tests use a fresh one each). */
  constructor (url: string, options: { prefix?: string } = {}) {
    this.url = url
    this.prefix = options.prefix ?? REDIS_KEY_PREFIX
  }

  private get used (): string { return `${this.prefix}used` }
  private get pinsKey (): string { return `${this.prefix}pins` }
  private nameKey (id: string): string { return `${this.prefix}name:${id}` }

  async open (): Promise<void> {
    const adapter = new KeyvRedis<string>(this.url, { throwOnConnectError: true, connectionTimeout: REDIS_CONNECT_TIMEOUT_MS })
    adapter.on('error', () => {}) // connection errors surface as failed commands, with their cause
    try {
      this.client = await adapter.getClient() as unknown as Client
      await this.command(['PING'])
    } catch (err) {
      await adapter.disconnect(true).catch(() => {})
      throw new CacheStoreError(`cannot reach Redis at ${redactUrl(this.url)}: ${(err as Error).message}`, { cause: err })
    }
    this.adapter = adapter
    // The adapter prefixes keys with keyv's namespace itself.
    this.blocks = new BlockTable(adapter, { useKeyPrefix: false, namespace: `${this.prefix}block` })
  }

  async close (): Promise<void> {
    await this.adapter?.disconnect().catch(() => {})
    this.adapter = undefined
    this.client = undefined
  }

  async get (id: string, options: StoreOptions = {}): Promise<StoredEntry | undefined> {
    const reply = await this.command(['HMGET', this.nameKey(id), 'token', 'entry'], options.signal) as Array<string | null>
    const [token, entry] = reply
    if (typeof token !== 'string' || typeof entry !== 'string') return undefined
    return readEntry(token, entry)
  }

  async swap (id: string, expected: string | undefined, entry: StoredName, nowMs: number, options: StoreOptions = {}): Promise<string | undefined> {
    const token = newToken()
    const done = await this.command(['EVAL', SWAP, '2', this.nameKey(id), this.used, expected ?? '', token, encodeEntry(entry), String(nowMs), id], options.signal)
    return Number(done) === 1 ? token : undefined
  }

  async putBlocks (blocks: ReadonlyArray<readonly [string, Uint8Array]>, options: StoreOptions = {}): Promise<void> {
    await this.blockTable().put(blocks, options.signal)
  }

  async getBlock (cid: string, options: StoreOptions = {}): Promise<Uint8Array | undefined> {
    return this.blockTable().get(cid, options.signal)
  }

  async touch (used: ReadonlyMap<string, number>, options: StoreOptions = {}): Promise<void> {
    await Promise.all([...used].map(async ([id, ms]) => this.command(['EVAL', TOUCH, '1', this.used, String(ms), id], options.signal)))
  }

  async setPin (id: string, kind: PinKind | undefined, options: StoreOptions = {}): Promise<void> {
    await this.command(kind === undefined ? ['HDEL', this.pinsKey, id] : ['HSET', this.pinsKey, id, kind], options.signal)
  }

  async pins (options: StoreOptions = {}): Promise<Array<{ id: string, kind: PinKind }>> {
    const flat = await this.command(['HGETALL', this.pinsKey], options.signal) as string[]
    const pins: Array<{ id: string, kind: PinKind }> = []
    for (let i = 0; i + 1 < flat.length; i += 2) pins.push({ id: flat[i]!, kind: flat[i + 1] as PinKind })
    return pins.sort((a, b) => a.id < b.id ? -1 : 1)
  }

  async recent (sinceMs: number, limit: number, options: StoreOptions = {}): Promise<string[]> {
    return await this.command(['ZRANGE', this.used, '+inf', String(sinceMs), 'BYSCORE', 'REV', 'LIMIT', '0', String(limit)], options.signal) as string[]
  }

  async count (options: StoreOptions = {}): Promise<number> {
    return Number(await this.command(['ZCARD', this.used], options.signal))
  }

  async evict (max: number, options: StoreOptions = {}): Promise<string[]> {
    const { signal } = options
    const excess = Math.min(await this.count(options) - max, MAX_EVICTIONS_PER_ROUND)
    if (excess <= 0) return []
    const pinned = new Set((await this.pins(options)).map(p => p.id))
    const candidates = await this.command(['ZRANGE', this.used, '0', String(excess + pinned.size - 1)], signal) as string[]
    const victims = candidates.filter(id => !pinned.has(id)).slice(0, excess)
    const removed: string[] = []
    for (const id of victims) {
      const entry = await this.command(['HGET', this.nameKey(id), 'entry'], signal) as string | null
      await this.command(['DEL', this.nameKey(id)], signal)
      await this.command(['ZREM', this.used, id], signal)
      await this.blockTable().delete(entry === null ? [] : chainOf(entry), signal)
      removed.push(id)
    }
    return removed
  }

  private async command (args: string[], signal?: AbortSignal): Promise<unknown> {
    const client = this.client
    if (client === undefined) throw new CacheStoreError('the Redis cache is not open')
    return withinSignal(signal, async () => client.sendCommand(args, signal === undefined ? undefined : { abortSignal: signal }))
  }

  private blockTable (): BlockTable {
    if (this.blocks === undefined) throw new CacheStoreError('the Redis cache is not open')
    return this.blocks
  }
}
