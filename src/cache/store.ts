/**
 * The backup cache's storage seam. Per IPNS name it holds the best verified record, the CIDs of the version
 * chain verified under it, when it was retrieved, and refused forks; version-node blocks are held by CID.
 * Three implementations (SQLite through `node:sqlite`, Redis, PostgreSQL) pass one contract suite
 * (test/cache/store-contract.ts).
 *
 * keyv carries the blocks (immutable, content-addressed: exactly its get/set model) and each store's
 * connection. keyv has no compare-and-set, so the name entries — the part that must never roll back, even
 * with many daemons writing one store — live in a small table (a hash in Redis) beside keyv's, written with
 * the store's own atomic means: a conditional UPDATE in SQLite and PostgreSQL, a Lua script in Redis.
 *
 * Everything read back is untrusted: the cache re-validates records and re-verifies chains on read.
 */
import { z } from 'zod'

/** Default bound on identities held; pinned and own identities are not counted out, never evicted. */
export const DEFAULT_MAX_IDENTITIES = 100_000
/** A stored entry larger than this is corrupt, not an entry (a record is ≤ 10 KiB; forks are bounded). */
export const MAX_ENTRY_BYTES = 1024 * 1024
/** Names evicted per round at most, so one round never holds a shared store for long. */
export const MAX_EVICTIONS_PER_ROUND = 1000

/** Why an identity is kept regardless of use: the daemon's own, or pinned by its operator. */
export type PinKind = 'own' | 'pinned'

export interface StoredForkEvidence {
  reason: string
  knownHead: string
  offeredHead: string
  detected: string
  record: string
}

export interface StoredName {
  /** Canonical id (base36 CIDv1 libp2p-key). */
  id: string
  /** The verified IPNS record, marshalled. */
  record: Uint8Array
  sequence: bigint
  /** CIDs of the verified version chain, newest first; for a legacy document, its one CID. */
  chain: string[]
  legacy: boolean
  retrievedAtMs: number
  forks: StoredForkEvidence[]
}

/**
 * An entry as read, with the token a compare-and-swap must present to replace it. An entry that cannot be
 * decoded comes back with `problem` instead, and its token, so that a verified record can replace it.
 */
export interface StoredEntry {
  token: string
  entry?: StoredName
  problem?: string
}

/** Decodes a stored entry's text into a `StoredEntry`, keeping an undecodable one as a problem. */
export function readEntry (token: string, text: string): StoredEntry {
  try {
    return { token, entry: decodeEntry(text) }
  } catch (err) {
    const cause = (err as Error).cause as Error | undefined
    return { token, problem: `${(err as Error).message}${cause === undefined ? '' : `: ${cause.message.slice(0, 200)}`}` }
  }
}

/**
 * Every store operation takes a signal (as Helia's `AbortOptions`): when it aborts, the operation rejects with a
 * `CacheStoreError` of reason `store_timeout` at once, whether or not the server ever answers. A store that
 * cannot cancel a request already sent (node-redis and pg cannot) abandons it: writes are compare-and-swaps, so
 * one that lands late is as if it had raced another writer.
 */
export interface StoreOptions { signal?: AbortSignal }

export interface CacheStore {
  /** `sqlite`, `redis`, `postgres`: for logs and metrics. */
  readonly kind: string
  /** Connects and creates tables; throws `CacheStoreError` with the cause named. */
  open: () => Promise<void>
  close: () => Promise<void>
  get: (id: string, options?: StoreOptions) => Promise<StoredEntry | undefined>
  /**
   * Atomically writes `entry` if the stored token is still `expected` (`undefined`: no entry yet). Returns the
   * new token, or `undefined` when another writer got there first (the caller re-reads and re-decides).
   */
  swap: (id: string, expected: string | undefined, entry: StoredName, nowMs: number, options?: StoreOptions) => Promise<string | undefined>
  /** Stores version-node blocks by CID; idempotent. */
  putBlocks: (blocks: ReadonlyArray<readonly [cid: string, bytes: Uint8Array]>, options?: StoreOptions) => Promise<void>
  getBlock: (cid: string, options?: StoreOptions) => Promise<Uint8Array | undefined>
  /** Records use times (least recently used leave first); batched by the caller. */
  touch: (used: ReadonlyMap<string, number>, options?: StoreOptions) => Promise<void>
  setPin: (id: string, kind: PinKind | undefined, options?: StoreOptions) => Promise<void>
  pins: (options?: StoreOptions) => Promise<Array<{ id: string, kind: PinKind }>>
  /** Names used at or after `sinceMs`, most recent first. */
  recent: (sinceMs: number, limit: number, options?: StoreOptions) => Promise<string[]>
  count: (options?: StoreOptions) => Promise<number>
  /** Removes least-recently-used unpinned names (and their blocks) until at most `max` remain; returns them. */
  evict: (max: number, options?: StoreOptions) => Promise<string[]>
}

/** `store_timeout`: the store did not answer before the signal aborted; `store_failed`: anything else. */
export type CacheStoreReason = 'store_failed' | 'store_timeout'

export class CacheStoreError extends Error {
  readonly reason: CacheStoreReason
  constructor (message: string, options?: ErrorOptions & { reason?: CacheStoreReason }) {
    super(message, options)
    this.name = 'CacheStoreError'
    this.reason = options?.reason ?? 'store_failed'
  }
}

/** The error of an operation whose signal aborted. */
function timedOut (signal: AbortSignal): CacheStoreError {
  const why = signal.reason instanceof Error && signal.reason.name !== 'TimeoutError' ? `: ${signal.reason.message}` : ''
  return new CacheStoreError(`the cache store did not answer in time${why}`, { reason: 'store_timeout', cause: signal.reason })
}

/** Throws `store_timeout` if `signal` has aborted: checked before an operation starts. */
export function checkSignal (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw timedOut(signal)
}

/**
 * `work`'s result, or a `store_timeout` rejection as soon as `signal` aborts, even if `work` never settles
 * (a hung server, a connection that queues commands while it reconnects). A driver's own failure (a refused
 * connection, a server shutting down) becomes a `CacheStoreError` of reason `store_failed`, so that callers
 * tell a store that does not answer from a bug by type.
 */
export async function withinSignal<T> (signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  checkSignal(signal)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(timedOut(signal!)) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
  const running = work().catch((err: unknown) => {
    if (err instanceof CacheStoreError) throw err
    throw new CacheStoreError(`the cache store failed: ${(err as Error).message}`, { cause: err })
  })
  running.catch(() => {}) // abandoned after an abort: its late failure is nobody's
  try {
    return await (signal === undefined ? running : Promise.race([running, aborted]))
  } finally {
    if (signal !== undefined) signal.removeEventListener('abort', onAbort!)
  }
}

const wireSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().min(1).max(256),
  record: z.base64(),
  sequence: z.string().regex(/^\d{1,20}$/),
  chain: z.array(z.string().min(1).max(256)).min(1).max(10_000),
  legacy: z.boolean(),
  retrievedAtMs: z.number().int().nonnegative(),
  forks: z.array(z.strictObject({
    reason: z.string(),
    knownHead: z.string(),
    offeredHead: z.string(),
    detected: z.string(),
    record: z.base64()
  })).max(64)
})

/** The stored text of an entry: versioned JSON, so every store (and a human with `psql`) reads the same. */
export function encodeEntry (entry: StoredName): string {
  return JSON.stringify({
    v: 1,
    id: entry.id,
    record: Buffer.from(entry.record).toString('base64'),
    sequence: entry.sequence.toString(),
    chain: entry.chain,
    legacy: entry.legacy,
    retrievedAtMs: entry.retrievedAtMs,
    forks: entry.forks
  })
}

/** Parses a stored entry; throws `CacheStoreError` for anything that is not one (corruption, tampering). */
export function decodeEntry (text: string): StoredName {
  if (text.length > MAX_ENTRY_BYTES) throw new CacheStoreError(`a stored entry is larger than ${MAX_ENTRY_BYTES} bytes`)
  let parsed
  try {
    parsed = wireSchema.parse(JSON.parse(text))
  } catch (err) {
    throw new CacheStoreError('a stored entry is malformed', { cause: err })
  }
  return {
    id: parsed.id,
    record: new Uint8Array(Buffer.from(parsed.record, 'base64')),
    sequence: BigInt(parsed.sequence),
    chain: parsed.chain,
    legacy: parsed.legacy,
    retrievedAtMs: parsed.retrievedAtMs,
    forks: parsed.forks
  }
}

/** A fresh write token: unique per write, so a swap can tell any later write from the one it read. */
export function newToken (): string {
  return crypto.randomUUID()
}

/** The block CIDs of a stored entry, or none when it is unreadable (its blocks are then left behind). */
export function chainOf (text: string): string[] {
  try {
    return decodeEntry(text).chain
  } catch {
    return []
  }
}

/** A connection URL without its password, for messages and logs. */
export function redactUrl (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable URL)'
  }
}
