/**
 * The daemon's Prometheus metrics (prom-client). One registry per daemon rather than prom-client's global
 * one, so that several daemons in one process (tests, embedding apps) keep their figures apart.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { UnattendedState } from './identity/unattended.ts'

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE

/** Store operations finish in well under a millisecond (SQLite) to a few milliseconds (a remote server). */
const STORE_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1]
const RESOLVE_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
/** A warm DIDAuth handshake takes a few ms on loopback; one that resolves over the network, up to seconds. */
const HANDSHAKE_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class Metrics {
  readonly registry = new Registry()
  /** Resolves answered from verified state within its TTL, without asking the network. */
  readonly cacheHits = new Counter({ name: 'ipidd_cache_hits_total', help: 'Resolves answered from fresh verified state', registers: [this.registry] })
  /** Answers that were stale (older than the TTL, or past EOL within the grace period). */
  readonly staleAnswers = new Counter({ name: 'ipidd_stale_answers_total', help: 'Resolves answered with stale verified state', labelNames: ['why'] as const, registers: [this.registry] })
  readonly networkLookups = new Counter({ name: 'ipidd_network_lookups_total', help: 'IPNS lookups on the network, by outcome', labelNames: ['outcome'] as const, registers: [this.registry] })
  /** Records refused because they would roll back (lower) or fork the verified history. */
  readonly rollbacksRefused = new Counter({ name: 'ipidd_rollbacks_refused_total', help: 'Records refused as rollbacks or forks', labelNames: ['kind', 'source'] as const, registers: [this.registry] })
  readonly storeConflicts = new Counter({ name: 'ipidd_cache_store_conflicts_total', help: 'Compare-and-swap writes lost to another writer and retried', registers: [this.registry] })
  readonly storeProblems = new Counter({ name: 'ipidd_cache_store_problems_total', help: 'Stored entries that failed to decode or verify on read', registers: [this.registry] })
  readonly evictions = new Counter({ name: 'ipidd_cache_evictions_total', help: 'Identities evicted from the cache (least recently used)', registers: [this.registry] })
  readonly keeperRepublishes = new Counter({ name: 'ipidd_keeper_republishes_total', help: 'Records the keeper republished', registers: [this.registry] })
  readonly keeperFailures = new Counter({ name: 'ipidd_keeper_failures_total', help: 'Records the keeper failed to republish, by reason', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly storeSeconds = new Histogram({ name: 'ipidd_cache_store_seconds', help: 'Cache store operation latency', labelNames: ['op', 'store'] as const, buckets: STORE_BUCKETS_S, registers: [this.registry] })
  readonly resolveSeconds = new Histogram({ name: 'ipidd_resolve_seconds', help: 'Resolve latency, by how it was answered', labelNames: ['answer'] as const, buckets: RESOLVE_BUCKETS_S, registers: [this.registry] })
  /** DIDAuth handshakes by role (`initiator`, `responder`) and outcome: `ok`, `refused` (this side refused the peer), `rejected` (the peer refused us). */
  readonly didauthHandshakes = new Counter({ name: 'ipidd_didauth_handshakes_total', help: 'DIDAuth handshakes, by role and outcome', labelNames: ['role', 'outcome'] as const, registers: [this.registry] })
  /** DIDAuth handshakes this side refused, by reason (spec/didauth.md §7): limits, bad messages, bad proofs. */
  readonly didauthRefused = new Counter({ name: 'ipidd_didauth_refused_total', help: 'DIDAuth handshakes refused, by reason', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly didauthSeconds = new Histogram({ name: 'ipidd_didauth_handshake_seconds', help: 'DIDAuth handshake duration, by role', labelNames: ['role'] as const, buckets: HANDSHAKE_BUCKETS_S, registers: [this.registry] })
  readonly didauthSessions = new Gauge({ name: 'ipidd_didauth_sessions', help: 'Peers authenticated by DIDAuth now', registers: [this.registry] })

  /** Signatures made for an identity's owner (src/sign/), by type (`jwt`, `jws`) and verification relationship. */
  readonly signatures = new Counter({ name: 'ipidd_signatures_total', help: 'JWTs and JWS signed for owners, by type and purpose', labelNames: ['type', 'purpose'] as const, registers: [this.registry] })
  readonly signRefused = new Counter({ name: 'ipidd_sign_refused_total', help: 'Signing requests refused, by reason', labelNames: ['reason'] as const, registers: [this.registry] })

  /**
   * What its identities need to run unattended (src/identity/unattended.ts), read at each scrape: which root keys
   * are locked in this run, and when each own record expires. Alert on `min(…expiry…) - time()`.
   */
  private unattended?: () => Promise<UnattendedState>
  /** The unattended state read for the scrape in progress (`text`). */
  private scrape?: Promise<UnattendedState> | undefined
  readonly identityLocked = this.unattendedGauge('ipidd_identity_locked',
    '1 when the identity\'s root key is locked in this run: its record is not re-signed and lapses at its EOL',
    (state, set) => { for (const name of state.held) set(name, state.locked.includes(name) ? 1 : 0) })

  readonly ownRecordExpiry = this.unattendedGauge('ipidd_own_record_expiry_timestamp_seconds',
    'When the record this daemon holds for its identity expires (EOL), Unix seconds',
    (state, set) => { for (const { name, expiresAtMs } of state.expiries) set(name, Math.floor(expiresAtMs / 1000)) })

  readonly ownRecordsEarliestExpiry = this.unattendedGauge('ipidd_own_records_earliest_expiry_timestamp_seconds',
    'The earliest EOL of the records of this daemon\'s identities, Unix seconds, labelled with the identity (absent with no record held)',
    (state, set) => { const [earliest] = state.expiries; if (earliest !== undefined) set(earliest.name, Math.floor(earliest.expiresAtMs / 1000)) })

  constructor (options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: 'ipidd_' })
  }

  /** The daemon's identities' unattended state, read at each scrape. */
  watchUnattended (source: () => Promise<UnattendedState>): void {
    this.unattended = source
  }

  /** A gauge by identity, filled afresh from the unattended state at each scrape (none before `watchUnattended`). */
  private unattendedGauge (name: string, help: string, fill: (state: UnattendedState, set: (identity: string, value: number) => void) => void): Gauge<'identity'> {
    const gauge: Gauge<'identity'> = new Gauge({
      name,
      help,
      labelNames: ['identity'] as const,
      registers: [this.registry],
      collect: async () => {
        const state = await (this.scrape ?? this.unattended?.())
        gauge.reset()
        if (state !== undefined) fill(state, (identity, value) => { gauge.set({ identity }, value) })
      }
    })
    return gauge
  }

  /** Times an async store operation. */
  async timeStore<T> (store: string, op: string, work: () => Promise<T>): Promise<T> {
    const end = this.storeSeconds.startTimer({ op, store })
    try {
      return await work()
    } finally {
      end()
    }
  }

  async text (): Promise<string> {
    // One read of the unattended state (a store read per identity) for the three gauges of one scrape.
    this.scrape = this.unattended?.()
    try {
      return await this.registry.metrics()
    } finally {
      this.scrape = undefined
    }
  }
}
