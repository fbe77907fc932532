/**
 * resolve(did, options) → a W3C DID resolution result. Never throws for expected failures: the result carries
 * `didResolutionMetadata.error` (`invalidDid`, `notFound`, `methodNotSupported`, `invalidDidDocument`,
 * `invalidOptions`, `internalError`) with a message and ipidd's `reason`.
 *
 * Per name it keeps the best accepted record and the chain verified so far (in memory here; the backup cache
 * persists them). A candidate record — from a lookup or from IPNS pubsub — is accepted only if it is valid, not
 * lower than the accepted one, and its version node extends the verified chain; a fork is refused and kept as
 * evidence. Concurrent resolves of one name share one lookup; lookups overall are bounded.
 */
import { CID } from 'multiformats/cid'
import { ForkError, IpidError, InvalidRecordError } from '../errors.ts'
import { walkChain, versionAtTime } from '../did/history.ts'
import { equivalentDids, parseDid } from '../did/identifier.ts'
import { normaliseLegacyDocument } from '../did/legacy.ts'
import { classifyPublished } from '../did/published.ts'
import { formatTime, systemClock } from '../did/time.ts'
import { BlockNotFoundError, RecordNotFoundError } from '../ipfs/backend.ts'
import { compareRecords, recordValueCid, validateRecord } from '../ipns/record.ts'
import type { DidDocument } from '../did/document.ts'
import type { VerifiedHead } from '../did/history.ts'
import type { IpidName } from '../did/identifier.ts'
import type { NormalisedDocument } from '../did/legacy.ts'
import type { Clock } from '../did/time.ts'
import type { DecodedVersionNode } from '../did/version-node.ts'
import type { IpfsBackend } from '../ipfs/backend.ts'
import type { ValidatedRecord } from '../ipns/record.ts'
import type { Logger } from '../log.ts'

/** How long one resolve may wait on the network before it answers from what it has (or `notFound`). */
export const DEFAULT_RESOLVE_DEADLINE_MS = 10_000
/** Network lookups in flight at once, across all names. */
export const MAX_CONCURRENT_LOOKUPS = 32
/** Names watched over IPNS pubsub at once; the least recently resolved are dropped first. */
export const MAX_WATCHED_NAMES = 1024
/** Refused forks kept as evidence per name. */
export const MAX_FORK_EVIDENCE = 16
export const DID_LD_JSON = 'application/did+ld+json'

export interface ForkEvidence {
  reason: string
  knownHead: string
  offeredHead: string
  detected: string
  /** The offending IPNS record, base64: signed by the root key, it proves the key was misused. */
  record: string
}

export interface DidResolutionResult {
  '@context'?: string
  didDocument: DidDocument | null
  didResolutionMetadata: Record<string, unknown>
  didDocumentMetadata: Record<string, unknown>
}

export interface ResolveOptions {
  versionId?: string
  versionTime?: string
  /** Ask the network even when the last answer is still fresh. */
  noCache?: boolean
  deadlineMs?: number
  signal?: AbortSignal
}

export interface ResolverInit {
  backend: IpfsBackend
  clock?: Clock
  deadlineMs?: number
  logger?: Logger
  /** Watch resolved names over IPNS pubsub, so updates arrive without asking (default true). */
  watch?: boolean
}

/** Where the accepted record came from: a lookup, IPNS pubsub, or an offer (cache, routing API). */
export type RecordSource = 'network' | 'pubsub' | 'offer'

interface NameState {
  name: IpidName
  record: ValidatedRecord
  source: RecordSource
  retrievedAtMs: number
  /** Verified version chain, newest first. */
  chain?: DecodedVersionNode[]
  legacy?: { cid: CID, normalised: NormalisedDocument }
  forks: ForkEvidence[]
}

type Outcome = 'accepted' | 'unchanged' | 'refused'

export class Resolver {
  private readonly backend: IpfsBackend
  private readonly clock: Clock
  private readonly deadlineMs: number
  private readonly logger?: Logger
  private readonly watch: boolean
  private readonly states = new Map<string, NameState>()
  private readonly lookups = new Map<string, Promise<void>>()
  private readonly watched = new Map<string, () => void>()
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor (init: ResolverInit) {
    this.backend = init.backend
    this.clock = init.clock ?? systemClock
    this.deadlineMs = init.deadlineMs ?? DEFAULT_RESOLVE_DEADLINE_MS
    this.logger = init.logger
    this.watch = init.watch ?? true
  }

  async resolve (did: string, options: ResolveOptions = {}): Promise<DidResolutionResult> {
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

      let state = this.states.get(name.id)
      const now = this.clock()
      const fresh = state !== undefined && now - state.retrievedAtMs < state.record.ttlMs
      let stale = false
      if (!fresh || options.noCache === true) {
        try {
          await this.lookup(name, options)
        } catch (err) {
          if (this.states.get(name.id) === undefined) return errorResult(asIpidError(err))
          stale = true
          this.logger?.debug({ did: name.did, err: (err as Error).message }, 'network lookup failed; answering from what was verified')
        }
        state = this.states.get(name.id)
      }
      if (state === undefined) return errorResult(new IpidError('notFound', 'no_record', `no record found for ${name.did}`))
      if (state.record.validUntilMs <= this.clock()) {
        return errorResult(new InvalidRecordError('expired', `the last verified record for ${name.did} expired at ${formatTime(state.record.validUntilMs)}`))
      }
      return this.answer(state, selector, stale)
    } catch (err) {
      this.logger?.error({ err }, 'resolve failed unexpectedly')
      return errorResult(new IpidError('internalError', 'internal_error', 'the resolver failed unexpectedly'))
    }
  }

  /** Offers a record obtained elsewhere (a cache, a routing PUT): accepted only under the same rules. */
  async offer (name: IpidName, record: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Outcome> {
    return this.consider(name, record, options.signal ?? AbortSignal.timeout(this.deadlineMs), 'offer')
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
  private async lookup (name: IpidName, options: ResolveOptions): Promise<void> {
    const pending = this.lookups.get(name.id)
    if (pending !== undefined) return pending
    const signal = AbortSignal.any([AbortSignal.timeout(options.deadlineMs ?? this.deadlineMs), ...(options.signal === undefined ? [] : [options.signal])])
    const run = this.limited(async () => {
      const record = await this.backend.getRecord(name, { signal })
      const outcome = await this.consider(name, record, signal, 'network')
      const state = this.states.get(name.id)
      if (state !== undefined && outcome !== 'refused') state.retrievedAtMs = this.clock()
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

  /** Validates a candidate record and, if it is better and its content verifies, accepts it. */
  private async consider (name: IpidName, bytes: Uint8Array, signal: AbortSignal, source: RecordSource): Promise<Outcome> {
    const record = await validateRecord(name, bytes, this.clock())
    const current = this.states.get(name.id)
    if (current !== undefined) {
      const order = compareRecords(record, current.record)
      if (order === 0) return 'unchanged'
      if (order < 0) return 'refused' // never roll back to a lower record
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
    const content = classifyPublished(cid, await load(cid))
    if (content.kind === 'legacy') {
      if (known !== undefined) {
        this.recordFork(current!, new ForkError('fork', 'a legacy document was offered for a DID with a verified version chain', known.cid.toString(), cid.toString()), record)
        return 'refused'
      }
      const normalised = normaliseLegacyDocument(content.value, name, { nowMs: this.clock() })
      this.states.set(name.id, { name, record, source, retrievedAtMs: this.clock(), legacy: { cid, normalised }, forks: current?.forks ?? [] })
      return 'accepted'
    }
    const head: VerifiedHead | undefined = known === undefined ? undefined : { cid: known.cid, version: known.node.version }
    let decision
    try {
      decision = await walkChain(cid, load, name, { signal, ...(head === undefined ? {} : { known: head }) })
    } catch (err) {
      if (err instanceof ForkError && current !== undefined) {
        this.recordFork(current, err, record)
        return 'refused'
      }
      throw err
    }
    if (decision.kind === 'older') return 'refused'
    const chain = decision.kind === 'extends' ? [...decision.nodes, ...(current?.chain ?? [])] : current?.chain ?? []
    this.states.set(name.id, { name, record, source, retrievedAtMs: this.clock(), chain, forks: current?.forks ?? [] })
    if (decision.kind === 'extends') this.logger?.info({ did: name.did, version: chain[0]?.node.version }, 'new version verified')
    return 'accepted'
  }

  private recordFork (state: NameState, err: ForkError, record: ValidatedRecord): void {
    if (state.forks.some(f => f.offeredHead === err.offeredHead)) return
    state.forks.push({
      reason: err.reason,
      knownHead: err.knownHead,
      offeredHead: err.offeredHead,
      detected: formatTime(this.clock()),
      record: Buffer.from(record.bytes).toString('base64')
    })
    if (state.forks.length > MAX_FORK_EVIDENCE) state.forks.shift()
    this.logger?.warn({ did: state.name.did, reason: err.reason, knownHead: err.knownHead, offeredHead: err.offeredHead }, 'fork refused')
  }

  private answer (state: NameState, selector: Selector, stale: boolean): DidResolutionResult {
    const { name } = state
    const resolutionMetadata: Record<string, unknown> = {
      contentType: DID_LD_JSON,
      retrieved: formatTime(state.retrievedAtMs),
      source: stale ? 'verified-state' : state.source,
      stale,
      recordExpires: formatTime(state.record.validUntilMs),
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
          normalisationChanges: normalised.changes
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
  if (err instanceof RecordNotFoundError) return new IpidError('notFound', 'no_record', err.message)
  if (err instanceof BlockNotFoundError) return new IpidError('notFound', 'block_unavailable', err.message)
  if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') {
    return new IpidError('notFound', 'no_record', 'the network did not answer before the deadline')
  }
  return new IpidError('internalError', 'internal_error', (err as Error).message)
}

export function errorResult (err: IpidError): DidResolutionResult {
  return {
    didDocument: null,
    didResolutionMetadata: { error: err.code, reason: err.reason, message: err.message },
    didDocumentMetadata: {}
  }
}

