/**
 * resolve(did, options) → a W3C DID resolution result. Never throws for expected failures: the result carries
 * `didResolutionMetadata.error` (`invalidDid`, `notFound`, `methodNotSupported`, `invalidDidDocument`,
 * `invalidOptions`, `internalError`) with a message and ipidd's `reason`.
 *
 * Per name it keeps the best accepted record and the chain verified so far: in memory, and in the backup cache
 * when one is given (src/cache), which persists them and may be shared by many daemons. A candidate record —
 * from a lookup, IPNS pubsub, or an offer — is accepted only if it is valid, not lower than the accepted one,
 * and its version node extends the verified chain; a fork is refused and kept as evidence. With a cache, every
 * acceptance is a compare-and-swap against the stored entry, re-decided when another writer got there first,
 * so the stored record only ever moves forward. Whatever is read back from the cache is verified again.
 * Concurrent resolves of one name share one lookup; lookups overall are bounded.
 */
import { CID } from 'multiformats/cid'
import { ForkError, IpidError, InvalidRecordError } from '../errors.ts'
import { describeHistory } from '../did/changes.ts'
import { walkChain, versionAtTime } from '../did/history.ts'
import { equivalentDids, parseDid } from '../did/identifier.ts'
import { normaliseLegacyDocument } from '../did/legacy.ts'
import { classifyPublished } from '../did/published.ts'
import { formatTime, systemClock } from '../did/time.ts'
import { BlockNotFoundError, RecordNotFoundError } from '../ipfs/backend.ts'
import { CacheStoreError } from '../cache/store.ts'
import { errorResult } from './result.ts'
import { compareRecords, recordValueCid, validateRecord } from '../ipns/record.ts'
import type { HistoryEntry } from '../did/changes.ts'
import type { VerifiedHead } from '../did/history.ts'
import type { IpidName } from '../did/identifier.ts'
import type { NormalisedDocument } from '../did/legacy.ts'
import type { Clock } from '../did/time.ts'
import type { DecodedVersionNode } from '../did/version-node.ts'
import type { IpfsBackend } from '../ipfs/backend.ts'
import type { ValidatedRecord } from '../ipns/record.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { ResolveCache } from '../cache/cache.ts'
import type { StoredEntry, StoredName } from '../cache/store.ts'
import type { DidResolutionResult, ResolveOptions } from './result.ts'

export { errorResult } from './result.ts'
export type { DidResolutionResult, ResolveOptions } from './result.ts'

/** How long one resolve may wait on the network before it answers from what it has (or `notFound`). */
export const DEFAULT_RESOLVE_DEADLINE_MS = 10_000
/** Network lookups in flight at once, across all names. */
export const MAX_CONCURRENT_LOOKUPS = 32
/** Names watched over IPNS pubsub at once; the least recently resolved are dropped first. */
export const MAX_WATCHED_NAMES = 1024
/** Refused forks kept as evidence per name. */
export const MAX_FORK_EVIDENCE = 16
/** Names whose verified state is held in memory; beyond it the least recently used are dropped (the cache keeps them). */
export const MAX_MEMORY_NAMES = 10_000
/**
 * How long a resolve of a stale entry (older than its TTL) waits for the network before it answers with the
 * stale version, flagged; the refresh goes on in the background.
 */
export const DEFAULT_REFRESH_WAIT_MS = 2_000
/** How long past its EOL a record is still served, flagged as expired, when nothing newer can be found. */
export const DEFAULT_EXPIRED_GRACE_MS = 24 * 60 * 60 * 1000
/** Compare-and-swap attempts before a write to a contended shared store gives up. */
export const MAX_STORE_ATTEMPTS = 16
export const DID_LD_JSON = 'application/did+ld+json'

export interface ForkEvidence {
  reason: string
  knownHead: string
  offeredHead: string
  detected: string
  /** The offending IPNS record, base64: signed by the root key, it proves the key was misused. */
  record: string
}

export interface ResolverInit {
  backend: IpfsBackend
  clock?: Clock
  deadlineMs?: number
  logger?: Logger
  /** Watch resolved names over IPNS pubsub, so updates arrive without asking (default true). */
  watch?: boolean
  /** The backup cache: verified state persists there and is shared with other daemons using the same store. */
  cache?: ResolveCache
  metrics?: Metrics
  refreshWaitMs?: number
  expiredGraceMs?: number
}

/** Where the accepted record came from: a lookup, IPNS pubsub, an offer (routing API, own publish), the cache. */
export type RecordSource = 'network' | 'pubsub' | 'offer' | 'cache'

interface NameState {
  name: IpidName
  record: ValidatedRecord
  source: RecordSource
  retrievedAtMs: number
  /** Verified version chain, newest first. */
  chain?: DecodedVersionNode[]
  legacy?: { cid: CID, normalised: NormalisedDocument }
  forks: ForkEvidence[]
  /** The cache store's token of the entry this state mirrors. */
  token?: string
  /**
   * The last answer for the head, per staleness: a warm resolve hands out the same (never mutated) result
   * object, so layers above can keep what they derived from it. Dropped whenever the state changes.
   */
  answers?: Map<string, DidResolutionResult>
}

export type Outcome = 'accepted' | 'unchanged' | 'refused'

/** A DID's verified head moved: a new version was accepted (or a newer one adopted from the cache). */
export interface VersionChange {
  /** The canonical DID. */
  did: string
  versionId: string
}

export class Resolver {
  private readonly backend: IpfsBackend
  private readonly clock: Clock
  private readonly deadlineMs: number
  private readonly logger?: Logger
  private readonly watch: boolean
  private readonly cache?: ResolveCache
  private readonly metrics?: Metrics
  private readonly refreshWaitMs: number
  private readonly expiredGraceMs: number
  private readonly states = new Map<string, NameState>()
  private readonly lookups = new Map<string, Promise<Outcome>>()
  /** Tokens of cache entries that could not be read, so that a verified record can replace them. */
  private readonly unreadable = new Map<string, string>()
  private readonly watched = new Map<string, () => void>()
  /** The name watched most recently: already last in `watched`, so a repeat needs no reordering. */
  private lastWatched?: string
  private active = 0
  private readonly changeListeners = new Set<(change: VersionChange) => void>()
  private readonly waiting: Array<() => void> = []

  constructor (init: ResolverInit) {
    this.backend = init.backend
    this.clock = init.clock ?? systemClock
    this.deadlineMs = init.deadlineMs ?? DEFAULT_RESOLVE_DEADLINE_MS
    this.logger = init.logger
    this.watch = init.watch ?? true
    this.cache = init.cache
    this.metrics = init.metrics
    this.refreshWaitMs = init.refreshWaitMs ?? DEFAULT_REFRESH_WAIT_MS
    this.expiredGraceMs = init.expiredGraceMs ?? DEFAULT_EXPIRED_GRACE_MS
  }

  /** Resolves a DID. Warm answers are shared between calls: treat the result as read-only. */
  async resolve (did: string, options: ResolveOptions = {}): Promise<DidResolutionResult> {
    const startedMs = performance.now()
    let answer = 'error'
    try {
      let name: IpidName
      try {
        name = parseDid(did)
      } catch (err) {
        return errorResult(err as IpidError)
      }
      const selector = parseSelector(options)
      if (selector instanceof IpidError) return errorResult(selector)
      this.watchName(name)

      let storeSilent = false
      let state = await this.current(name).catch((err: unknown) => {
        // The shared store did not answer by its deadline (stopped, hung, failing over): answer from the state
        // verified in memory, flagged stale, since the store may hold a newer version another daemon wrote.
        storeSilent = true
        this.logger?.warn({ did: name.did, err: (err as Error).message }, 'the cache store did not answer; answering from the state verified in memory')
        return this.states.get(name.id)
      })
      const fresh = state !== undefined && this.clock() - state.retrievedAtMs < state.record.ttlMs
      let stale = storeSilent
      if (!fresh || options.noCache === true) {
        const lookup = this.lookup(name, options)
        if (state === undefined || options.noCache === true) {
          try {
            await lookup
          } catch (err) {
            if (this.states.get(name.id) === undefined) return errorResult(asIpidError(err))
            stale = true
            this.logger?.debug({ did: name.did, err: (err as Error).message }, 'network lookup failed; answering from what was verified')
          }
        } else {
          // Serve the last verified version if the network is slow or gone; the refresh goes on in the background.
          const outcome = await outcomeWithin(lookup, this.refreshWaitMs)
          stale = outcome === 'timeout' || outcome === 'failed'
        }
        state = this.states.get(name.id)
      }
      if (state === undefined) return errorResult(new IpidError('notFound', 'no_record', `no record found for ${name.did}`))
      const now = this.clock()
      let expired = false
      if (state.record.validUntilMs <= now) {
        if (now >= state.record.validUntilMs + this.expiredGraceMs) {
          return errorResult(new InvalidRecordError('expired', `the last verified record for ${name.did} expired at ${formatTime(state.record.validUntilMs)} ` +
            `and the grace period of ${Math.round(this.expiredGraceMs / 60_000)} minutes has passed; its owner has not republished it`))
        }
        expired = true
      }
      this.cache?.use(name.id)
      const result = this.memoAnswer(state, selector, stale || expired, expired)
      answer = expired ? 'expired' : stale ? 'stale' : fresh && options.noCache !== true ? 'hit' : 'network'
      if (answer === 'hit') this.metrics?.cacheHits.inc()
      if (answer === 'stale' || answer === 'expired') this.metrics?.staleAnswers.inc({ why: answer })
      return result
    } catch (err) {
      this.logger?.error({ err }, 'resolve failed unexpectedly')
      return errorResult(new IpidError('internalError', 'internal_error', 'the resolver failed unexpectedly'))
    } finally {
      this.metrics?.resolveSeconds.labels(answer).observe((performance.now() - startedMs) / 1000)
    }
  }

  /**
   * The verified version history of a DID, newest first, after a resolve (so it is as fresh as an answer
   * would be). Empty for a legacy document, which has no chain; `result` carries any resolution error.
   */
  async history (did: string, options: Pick<ResolveOptions, 'noCache'> = {}): Promise<{ result: DidResolutionResult, entries: HistoryEntry[] }> {
    const result = await this.resolve(did, options.noCache === true ? { noCache: true } : {})
    if (result.didResolutionMetadata.error !== undefined) return { result, entries: [] }
    const chain = this.states.get(parseDid(did).id)?.chain
    return { result, entries: chain === undefined ? [] : describeHistory(chain) }
  }

  /**
   * The best valid record held for a name (looked up when the held one is stale), marshalled: what the
   * delegated routing API serves. Expired records are not served there: IPFS clients would refuse them.
   */
  async bestRecord (name: IpidName): Promise<Uint8Array | undefined> {
    const result = await this.resolve(name.did)
    const state = this.states.get(name.id)
    if (result.didResolutionMetadata.error !== undefined || state === undefined) return undefined
    return state.record.validUntilMs > this.clock() ? state.record.bytes : undefined
  }

  /** Offers a record obtained elsewhere (a cache, a routing PUT): accepted only under the same rules. */
  async offer (name: IpidName, record: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Outcome> {
    return this.consider(name, record, options.signal ?? AbortSignal.timeout(this.deadlineMs), 'offer')
  }

  /**
   * Calls `listener` whenever the head held for a DID changes (DIDAuth ends sessions that rest on an older
   * version). Returns the unsubscribe function. A listener that throws is ignored.
   */
  onChange (listener: (change: VersionChange) => void): () => void {
    this.changeListeners.add(listener)
    return () => { this.changeListeners.delete(listener) }
  }

  /** Fork evidence collected for a DID (any spelling). */
  forksOf (did: string): ForkEvidence[] {
    return [...(this.states.get(parseDid(did).id)?.forks ?? [])]
  }

  stop (): void {
    for (const unsubscribe of this.watched.values()) unsubscribe()
    this.watched.clear()
  }

  private watchName (name: IpidName): void {
    if (!this.watch) return
    const existing = this.watched.get(name.id)
    if (existing !== undefined && this.lastWatched === name.id) return
    this.lastWatched = name.id
    if (existing !== undefined) {
      // Re-insert: the map's order is least recently resolved first.
      this.watched.delete(name.id)
      this.watched.set(name.id, existing)
      return
    }
    const unsubscribe = this.backend.subscribe(name, record => {
      this.consider(name, record, AbortSignal.timeout(this.deadlineMs), 'pubsub').catch((err: unknown) => {
        this.logger?.debug({ did: name.did, err: (err as Error).message }, 'pubsub record refused')
      })
    })
    this.watched.set(name.id, unsubscribe)
    if (this.watched.size > MAX_WATCHED_NAMES) {
      const [oldest, stop] = this.watched.entries().next().value as [string, () => void]
      stop()
      this.watched.delete(oldest)
    }
  }

  /** One network lookup per name at a time; every concurrent resolve of the name waits on it. */
  private async lookup (name: IpidName, options: ResolveOptions): Promise<Outcome> {
    const pending = this.lookups.get(name.id)
    if (pending !== undefined) return pending
    const signal = AbortSignal.any([AbortSignal.timeout(options.deadlineMs ?? this.deadlineMs), ...(options.signal === undefined ? [] : [options.signal])])
    const run = this.limited(async () => {
      let record: Uint8Array
      try {
        record = await this.backend.getRecord(name, { signal, networkOnly: true })
      } catch (err) {
        this.metrics?.networkLookups.inc({ outcome: 'not_found' })
        throw err
      }
      const outcome = await this.consider(name, record, signal, 'network')
      this.metrics?.networkLookups.inc({ outcome })
      return outcome
    }).finally(() => { this.lookups.delete(name.id) })
    this.lookups.set(name.id, run)
    return run
  }

  private async limited<T> (task: () => Promise<T>): Promise<T> {
    while (this.active >= MAX_CONCURRENT_LOOKUPS) await new Promise<void>(resolve => this.waiting.push(resolve))
    this.active++
    try {
      return await task()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }

  /**
   * The verified state of a name: from memory while it is fresh, else from the cache when the cache holds
   * another entry than the one in memory (a restart, or another daemon wrote it), verified again on the way in.
   */
  private async current (name: IpidName, options: { forWrite?: boolean, signal?: AbortSignal } = {}): Promise<NameState | undefined> {
    const memory = this.states.get(name.id)
    if (this.cache === undefined) return memory
    // A store only this daemon writes (SQLite, behind the data-directory lock) cannot hold anything newer than
    // memory; a shared one can, written by another daemon a moment ago: then the stored entry is checked.
    if (options.forWrite !== true && !this.cache.shared && memory !== undefined && this.clock() - memory.retrievedAtMs < memory.record.ttlMs) return memory
    // A store that does not answer throws (CacheStoreError): the caller decides what to answer without it.
    const stored: StoredEntry | undefined = await this.cache.read(name.id)
    if (stored === undefined && memory?.token !== undefined) {
      // The store lost the entry it held (a Redis restart without persistence, FLUSHALL, an eviction): the
      // verified state goes back in, with its blocks, as an insert; if another daemon inserted first, its entry is
      // adopted at the next read (or decided against by the write under way, whose swap then fails).
      const lost = memory.token
      memory.token = undefined
      if (!await this.persist(memory, blocksOf(memory), undefined).catch(() => false)) memory.token = lost
      return memory
    }
    if (stored === undefined || stored.token === memory?.token) return memory
    if (stored.entry === undefined) {
      // Unreadable: whatever is verified next replaces it, by its token.
      if (memory !== undefined) memory.token = stored.token
      else this.unreadable.set(name.id, stored.token)
      return memory
    }
    let adopted: NameState
    try {
      adopted = await this.adopt(name, stored.entry, stored.token, options.signal ?? AbortSignal.timeout(this.deadlineMs))
    } catch (err) {
      this.metrics?.storeProblems.inc()
      this.logger?.warn({ did: name.did, err: (err as Error).message }, 'a cached entry failed verification; it will be replaced')
      if (memory !== undefined) memory.token = stored.token
      else this.unreadable.set(name.id, stored.token)
      return memory
    }
    if (memory !== undefined && compareRecords(memory.record, adopted.record) > 0) {
      memory.token = stored.token // ours is better: the next write replaces the stored one
      return memory
    }
    this.remember(adopted)
    return adopted
  }

  /** Verifies a stored entry as if it had just arrived: record signature and key, then the whole chain. */
  private async adopt (name: IpidName, entry: StoredName, token: string, signal: AbortSignal): Promise<NameState> {
    if (entry.id !== name.id) throw new IpidError('internalError', 'cache_mismatch', 'a cached entry names another identity')
    const record = await validateRecord(name, entry.record, this.clock(), { allowExpired: true })
    const cid = recordValueCid(record)
    const load = async (wanted: CID): Promise<Uint8Array> => {
      const cached = await this.cache?.getBlock(wanted.toString())
      return cached ?? this.backend.getBlock(wanted, { signal })
    }
    const base = { name, record, source: 'cache' as const, retrievedAtMs: entry.retrievedAtMs, forks: entry.forks, token }
    const content = classifyPublished(cid, await load(cid))
    if (content.kind === 'legacy') {
      return { ...base, legacy: { cid, normalised: normaliseLegacyDocument(content.value, name, { nowMs: this.clock() }) } }
    }
    const decision = await walkChain(cid, load, name, { signal })
    if (decision.kind !== 'extends') throw new IpidError('internalError', 'cache_mismatch', 'a cached chain did not verify from its first version')
    return { ...base, chain: decision.nodes }
  }

  /**
   * Validates a candidate record and, if it is better and its content verifies, accepts it. With a cache the
   * acceptance is a compare-and-swap; when another writer changed the entry first, the decision is made again
   * against what it wrote.
   */
  private async consider (name: IpidName, bytes: Uint8Array, signal: AbortSignal, source: RecordSource): Promise<Outcome> {
    const record = await validateRecord(name, bytes, this.clock())
    for (let attempt = 0; attempt < MAX_STORE_ATTEMPTS; attempt++) {
      const current = await this.current(name, { forWrite: true, signal })
      const decided = await this.decide(name, record, current, signal, source)
      if (decided.outcome === 'refused') {
        this.metrics?.rollbacksRefused.inc({ kind: decided.fork === undefined ? 'rollback' : 'fork', source })
        if (decided.fork !== undefined && current !== undefined && this.recordFork(current, decided.fork, record)) {
          await this.persist(current, []).catch(() => {}) // evidence is best effort
        }
        return 'refused'
      }
      if (decided.outcome === 'unchanged') {
        if (source === 'network' && current !== undefined) {
          current.retrievedAtMs = this.clock()
          current.answers = undefined
          await this.persist(current, []).catch(() => {}) // freshness is best effort
        }
        return 'unchanged'
      }
      const next = decided.state
      if (await this.persist(next, decided.blocks, current?.token ?? this.unreadable.get(name.id))) {
        this.unreadable.delete(name.id)
        this.remember(next)
        if (next.chain !== undefined && decided.blocks.length > 0) this.logger?.info({ did: name.did, version: next.chain[0]?.node.version }, 'new version verified')
        return 'accepted'
      }
    }
    throw new IpidError('internalError', 'cache_contention', `the cache entry for ${name.did} kept changing under ${MAX_STORE_ATTEMPTS} attempts to store a record`)
  }

  /** Writes a state to the cache if it still holds `expected` (the state's own token by default). */
  private async persist (state: NameState, blocks: Array<readonly [string, Uint8Array]>, expected: string | undefined = state.token): Promise<boolean> {
    if (this.cache === undefined) return true
    const token = await this.cache.write(toStored(state), expected, blocks)
    if (token === undefined) return false
    state.token = token
    return true
  }

  private async decide (name: IpidName, record: ValidatedRecord, current: NameState | undefined, signal: AbortSignal, source: RecordSource):
  Promise<{ outcome: 'refused', fork?: ForkError } | { outcome: 'unchanged' } | { outcome: 'accepted', state: NameState, blocks: Array<readonly [string, Uint8Array]> }> {
    if (current !== undefined) {
      const order = compareRecords(record, current.record)
      if (order === 0) return { outcome: 'unchanged' }
      if (order < 0) return { outcome: 'refused' } // never roll back to a lower record
    }
    const cid = recordValueCid(record)
    const known = current?.chain?.[0]
    const load = async (wanted: CID): Promise<Uint8Array> => {
      const cached = current?.chain?.find(n => n.cid.equals(wanted))
      if (cached !== undefined) return cached.bytes
      try {
        return await this.backend.getBlock(wanted, { signal })
      } catch (err) {
        throw new IpidError('notFound', 'block_unavailable', `the block ${wanted.toString()} could not be fetched in time`, { cause: err })
      }
    }
    const retrievedAtMs = this.clock()
    const forks = current?.forks ?? []
    const bytes = await load(cid)
    const content = classifyPublished(cid, bytes)
    if (content.kind === 'legacy') {
      if (known !== undefined) {
        return { outcome: 'refused', fork: new ForkError('fork', 'a legacy document was offered for a DID with a verified version chain', known.cid.toString(), cid.toString()) }
      }
      const normalised = normaliseLegacyDocument(content.value, name, { nowMs: this.clock() })
      return { outcome: 'accepted', state: { name, record, source, retrievedAtMs, legacy: { cid, normalised }, forks }, blocks: [[cid.toString(), bytes]] }
    }
    const head: VerifiedHead | undefined = known === undefined ? undefined : { cid: known.cid, version: known.node.version }
    let decision
    try {
      decision = await walkChain(cid, load, name, { signal, ...(head === undefined ? {} : { known: head }) })
    } catch (err) {
      if (err instanceof ForkError && current !== undefined) return { outcome: 'refused', fork: err }
      throw err
    }
    if (decision.kind === 'older') return { outcome: 'refused' }
    const added = decision.kind === 'extends' ? decision.nodes : []
    const chain = [...added, ...(current?.chain ?? [])]
    return { outcome: 'accepted', state: { name, record, source, retrievedAtMs, chain, forks }, blocks: added.map(n => [n.cid.toString(), n.bytes] as const) }
  }

  /** Keeps a state in memory, most recently used last; the least recently used leave beyond the bound. */
  private remember (state: NameState): void {
    const before = this.states.get(state.name.id)
    this.states.delete(state.name.id)
    this.states.set(state.name.id, state)
    if (this.states.size > MAX_MEMORY_NAMES) {
      const oldest = this.states.keys().next().value
      if (oldest !== undefined) this.states.delete(oldest)
    }
    const head = headOf(state)
    if (this.changeListeners.size > 0 && (before === undefined || headOf(before) !== head)) {
      for (const listener of this.changeListeners) {
        try {
          listener({ did: state.name.did, versionId: head })
        } catch {}
      }
    }
  }

  /** Adds fork evidence; false when it was already known. */
  private recordFork (state: NameState, err: ForkError, record: ValidatedRecord): boolean {
    if (state.forks.some(f => f.offeredHead === err.offeredHead)) return false
    state.answers = undefined
    state.forks = [...state.forks, {
      reason: err.reason,
      knownHead: err.knownHead,
      offeredHead: err.offeredHead,
      detected: formatTime(this.clock()),
      record: Buffer.from(record.bytes).toString('base64')
    }].slice(-MAX_FORK_EVIDENCE)
    this.logger?.warn({ did: state.name.did, reason: err.reason, knownHead: err.knownHead, offeredHead: err.offeredHead }, 'fork refused')
    return true
  }

  private memoAnswer (state: NameState, selector: Selector, stale: boolean, expired: boolean): DidResolutionResult {
    if (selector.versionId !== undefined || selector.versionTimeMs !== undefined) return this.answer(state, selector, stale, expired)
    const key = `${String(stale)}/${String(expired)}`
    state.answers ??= new Map()
    let result = state.answers.get(key)
    if (result === undefined) {
      result = this.answer(state, selector, stale, expired)
      state.answers.set(key, result)
    }
    return result
  }

  private answer (state: NameState, selector: Selector, stale: boolean, expired: boolean): DidResolutionResult {
    const { name } = state
    const resolutionMetadata: Record<string, unknown> = {
      contentType: DID_LD_JSON,
      retrieved: formatTime(state.retrievedAtMs),
      source: stale && state.source !== 'cache' ? 'verified-state' : state.source,
      stale,
      ...(expired ? { expired: true } : {}),
      recordExpires: formatTime(state.record.validUntilMs),
      recordTtl: Math.round(state.record.ttlMs / 1000),
      ...(state.forks.length > 0 ? { forkEvidence: state.forks } : {})
    }
    const common = { canonicalId: name.did, equivalentId: equivalentDids(name) }

    if (state.legacy !== undefined) {
      const { cid, normalised } = state.legacy
      if (selector.versionId !== undefined && selector.versionId !== cid.toString()) return versionNotFound(name)
      return {
        didDocument: normalised.document,
        didResolutionMetadata: resolutionMetadata,
        didDocumentMetadata: {
          ...(normalised.created === undefined ? {} : { created: normalised.created }),
          ...(normalised.updated === undefined ? {} : { updated: normalised.updated }),
          versionId: cid.toString(),
          deactivated: normalised.deactivated,
          ...common,
          normalised: true,
          normalisationChanges: normalised.changes,
          ...(normalised.previous === undefined ? {} : { legacyPrevious: normalised.previous.toString() })
        }
      }
    }

    const chain = state.chain ?? []
    let index = 0
    if (selector.versionId !== undefined) {
      index = chain.findIndex(n => n.cid.toString() === selector.versionId)
    } else if (selector.versionTimeMs !== undefined) {
      const node = versionAtTime(chain, selector.versionTimeMs)
      index = node === undefined ? -1 : chain.indexOf(node)
    }
    const served = chain[index]
    if (served === undefined) return versionNotFound(name)
    const next = index > 0 ? chain[index - 1] : undefined
    return {
      didDocument: served.node.document,
      didResolutionMetadata: resolutionMetadata,
      didDocumentMetadata: {
        created: served.node.created,
        updated: served.node.updated,
        versionId: served.cid.toString(),
        deactivated: served.node.deactivated,
        ...(next === undefined ? {} : { nextVersionId: next.cid.toString(), nextUpdate: next.node.updated }),
        ...common
      }
    }
  }
}

interface Selector { versionId?: string, versionTimeMs?: number }

/** The versionId of the head a state serves. */
function headOf (state: NameState): string {
  return (state.legacy?.cid ?? state.chain?.[0]?.cid)?.toString() ?? ''
}

/** The version-node blocks of a state's chain, to store again (a legacy document's block is not kept in memory). */
function blocksOf (state: NameState): Array<readonly [string, Uint8Array]> {
  return (state.chain ?? []).map(n => [n.cid.toString(), n.bytes] as const)
}

function toStored (state: NameState): StoredName {
  return {
    id: state.name.id,
    record: state.record.bytes,
    sequence: state.record.sequence,
    chain: state.legacy !== undefined ? [state.legacy.cid.toString()] : (state.chain ?? []).map(n => n.cid.toString()),
    legacy: state.legacy !== undefined,
    retrievedAtMs: state.retrievedAtMs,
    forks: state.forks
  }
}

/** A lookup's outcome if it settles within `ms`. */
async function outcomeWithin (promise: Promise<Outcome>, ms: number): Promise<Outcome | 'timeout' | 'failed'> {
  let timer: NodeJS.Timeout | undefined
  const settled = promise.then(outcome => outcome, () => 'failed' as const)
  const timeout = new Promise<'timeout'>(resolve => { timer = setTimeout(() => { resolve('timeout') }, ms) })
  try {
    return await Promise.race([settled, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function parseSelector (options: ResolveOptions): Selector | IpidError {
  if (options.versionId !== undefined && options.versionTime !== undefined) {
    return new IpidError('invalidOptions', 'malformed_option', 'give versionId or versionTime, not both')
  }
  if (options.versionId !== undefined) {
    try {
      return { versionId: CID.parse(options.versionId).toString() }
    } catch {
      return new IpidError('invalidOptions', 'malformed_option', 'versionId must be a CID')
    }
  }
  if (options.versionTime !== undefined) {
    const ms = Date.parse(options.versionTime)
    if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(options.versionTime)) {
      return new IpidError('invalidOptions', 'malformed_option', 'versionTime must be an RFC 3339 date-time')
    }
    return { versionTimeMs: ms }
  }
  return {}
}

function versionNotFound (name: IpidName): DidResolutionResult {
  return errorResult(new IpidError('notFound', 'version_not_found', `no verified version of ${name.did} matches the requested versionId or versionTime`))
}

function asIpidError (err: unknown): IpidError {
  if (err instanceof IpidError) return err
  if (err instanceof CacheStoreError) return new IpidError('internalError', 'cache_unavailable', 'the cache store did not answer; nothing verified is held in memory for this DID')
  if (err instanceof RecordNotFoundError) return new IpidError('notFound', 'no_record', err.message)
  if (err instanceof BlockNotFoundError) return new IpidError('notFound', 'block_unavailable', err.message)
  if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') {
    return new IpidError('notFound', 'no_record', 'the network did not answer before the deadline')
  }
  return new IpidError('internalError', 'internal_error', (err as Error).message)
}

