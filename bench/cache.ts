/**
 * The backup cache (issue 4):
 * - resolve latency of a warm cache hit (in memory; and from the SQLite store after a restart, verified again)
 *   against a cold network resolve between two embedded nodes on 127.0.0.1, in the same run;
 * - the stale answer with every peer gone (the "network gone" acceptance: within 50 ms);
 * - SQLite at 100,000 stored identities (real signed records and version nodes): lookup p50/p99 against the
 *   same lookup at 1,000 identities, verified resolve from the store, and bytes per identity on disk.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DatabaseSync } from 'node:sqlite'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ResolveCache } from '../src/cache/cache.ts'
import { SqliteStore } from '../src/cache/sqlite-store.ts'
import { didFromPublicKey, parseDid } from '../src/did/identifier.ts'
import { createFirstVersion } from '../src/did/version-node.ts'
import { createEmbeddedNode } from '../src/ipfs/helia.ts'
import { createRecord } from '../src/ipns/record.ts'
import { Resolver } from '../src/resolver/resolver.ts'
import { latencyRow } from './harness.ts'
import { documentWithAuthKey, multikeyOf, testIdentity } from '../test/helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../test/helpers/network.ts'

const SAMPLES = 200
const NETWORK_SAMPLES = 40
const LARGE = 100_000
const SMALL = 1_000
const LOOKUPS = 5_000


const latencyRow3 = (name: string, samples: number[], baseline?: number[]): string => latencyRow(name, samples, baseline, 3)

async function timed (op: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await op()
  return performance.now() - t
}

async function resolveLatencies (dir: string): Promise<string[]> {
  const [a, c] = await startMesh(2)
  const lonely = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await lonely.start()
  let nowMs = Date.now()
  const clock = (): number => nowMs
  const cache = new ResolveCache({ store: new SqliteStore(join(dir, 'resolve.sqlite')), clock })
  await cache.start()
  const resolver = new Resolver({ backend: c!, cache, clock, watch: false, deadlineMs: 10_000 })
  const cold: number[] = []
  const warm: number[] = []
  const fromStore: number[] = []
  const staleGone: number[] = []
  const dids: string[] = []
  try {
    for (let i = 0; i < NETWORK_SAMPLES; i++) {
      const id = await testIdentity(200_000 + i * 8)
      const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, Date.now())
      await publishVersion(a!, id.root, v1)
      cold.push(await timed(async () => resolver.resolve(id.did)))
      dids.push(id.did)
    }
    for (let i = 0; i < SAMPLES; i++) warm.push(await timed(async () => resolver.resolve(dids[i % dids.length]!)))
    await cache.maintain()
    // A restarted daemon: nothing in memory, every answer read from SQLite and verified again.
    for (let i = 0; i < NETWORK_SAMPLES; i++) {
      const restarted = new Resolver({ backend: lonely, cache, clock, watch: false })
      fromStore.push(await timed(async () => restarted.resolve(dids[i]!)))
      restarted.stop()
    }
    // Network gone and the entries past their TTL: the stale answer.
    nowMs += 10 * 60 * 1000
    const offline = new Resolver({ backend: lonely, cache, clock, watch: false })
    for (let i = 0; i < NETWORK_SAMPLES; i++) {
      let stale = false
      staleGone.push(await timed(async () => { stale = (await offline.resolve(dids[i]!)).didResolutionMetadata.stale === true }))
      if (!stale) throw new Error('expected a stale answer')
    }
    offline.stop()
  } finally {
    resolver.stop()
    await cache.stop()
    await stopAll([a!, c!, lonely])
  }
  return [
    '### Resolve latency: warm cache against cold network resolve',
    '',
    'Ratio: p50 of the operation over p50 of the cold network resolve, measured in the same run.',
    '',
    '| operation | samples | p50 ms | p99 ms | ratio to cold resolve |',
    '| --- | ---: | ---: | ---: | ---: |',
    latencyRow3('cold network resolve (record + block + chain + document, stored in SQLite)', cold),
    latencyRow3('warm cache hit (verified state in memory, within TTL)', warm, cold),
    latencyRow3('cache hit after restart (read from SQLite, record and chain verified again)', fromStore, cold),
    latencyRow3('network gone, past TTL: stale answer from the cache', staleGone, cold),
    ''
  ]
}

/** Fills a SQLite store with `count` real identities (signed record + version node each). */
async function fill (store: SqliteStore, count: number, nowMs: number): Promise<string[]> {
  const ids: string[] = []
  // Root keys are per identity (they name it); update and authentication keys may be shared here.
  const update = await generateKeyPair('Ed25519')
  const auth = await generateKeyPair('Ed25519')
  for (let i = 0; i < count; i++) {
    const root = await generateKeyPair('Ed25519')
    const did = didFromPublicKey(root.publicKey)
    const v1 = await createFirstVersion({ document: documentWithAuthKey(did, auth), updateKeys: [multikeyOf(update)] }, root, nowMs)
    const record = await createRecord({ privateKey: root, value: v1.cid, sequence: 0n, validUntilMs: nowMs + 7 * 86_400_000 })
    const id = parseDid(did).id
    await store.putBlocks([[v1.cid.toString(), v1.bytes]])
    await store.swap(id, undefined, { id, record: record.bytes, sequence: 0n, chain: [v1.cid.toString()], legacy: false, retrievedAtMs: nowMs, forks: [] }, nowMs)
    ids.push(id)
  }
  return ids
}

function diskBytes (path: string): number {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  db.close()
  let total = 0
  for (const suffix of ['', '-wal', '-shm']) {
    try { total += statSync(path + suffix).size } catch {}
  }
  return total
}

async function lookups (store: SqliteStore, ids: string[]): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < LOOKUPS; i++) {
    const id = ids[Math.floor(Math.random() * ids.length)]!
    samples.push(await timed(async () => {
      const entry = await store.get(id)
      if (entry?.entry === undefined) throw new Error('lookup missed')
    }))
  }
  return samples
}

async function atScale (dir: string): Promise<string[]> {
  const nowMs = Date.now()
  const smallPath = join(dir, 'small.sqlite')
  const largePath = join(dir, 'large.sqlite')
  const small = new SqliteStore(smallPath)
  const large = new SqliteStore(largePath)
  await small.open()
  await large.open()
  const fillStart = performance.now()
  const smallIds = await fill(small, SMALL, nowMs)
  const largeIds = await fill(large, LARGE, nowMs)
  const fillSeconds = (performance.now() - fillStart) / 1000
  const smallLookups = await lookups(small, smallIds)
  const largeLookups = await lookups(large, largeIds)

  // Verified resolves straight from the store (a restarted daemon), at 100,000 identities.
  const lonely = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await lonely.start()
  const clock = (): number => nowMs
  const cache = new ResolveCache({ store: large, clock })
  const verified: number[] = []
  for (let i = 0; i < SAMPLES; i++) {
    const resolver = new Resolver({ backend: lonely, cache, clock, watch: false })
    const did = `did:ipid:${largeIds[Math.floor(Math.random() * largeIds.length)]!}`
    verified.push(await timed(async () => {
      const result = await resolver.resolve(did)
      if (result.didResolutionMetadata.error !== undefined) throw new Error(`resolve from store failed: ${String(result.didResolutionMetadata.message)}`)
    }))
    resolver.stop()
  }
  await lonely.stop()
  const evictStart = performance.now()
  const evicted = await large.evict(LARGE - 1000)
  const evictMs = performance.now() - evictStart
  await small.close()
  await large.close()
  const perIdentity = (path: string, n: number): number => Math.round(diskBytes(path) / n)
  return [
    `### SQLite at ${LARGE.toLocaleString('en')} identities`,
    '',
    `Each identity is real: a signed IPNS record and a signed version node. Filling both stores took ${fillSeconds.toFixed(0)} s.`,
    `Lookup = \`store.get\` of a random identity (read + decode). Ratio: p50 over p50 of the same lookup at ${SMALL.toLocaleString('en')} identities.`,
    '',
    '| operation | samples | p50 ms | p99 ms | ratio to baseline |',
    '| --- | ---: | ---: | ---: | ---: |',
    latencyRow3(`baseline: lookup at ${SMALL.toLocaleString('en')} identities`, smallLookups),
    latencyRow3(`lookup at ${LARGE.toLocaleString('en')} identities`, largeLookups, smallLookups),
    latencyRow3(`verified resolve from the store at ${LARGE.toLocaleString('en')} (fresh resolver memory)`, verified, smallLookups),
    '',
    `- Bytes on disk per identity: ${perIdentity(largePath, LARGE - evicted.length).toLocaleString('en')} at ${(LARGE - evicted.length).toLocaleString('en')} identities ` +
      `(${perIdentity(smallPath, SMALL).toLocaleString('en')} at ${SMALL.toLocaleString('en')}); file + WAL after a checkpoint.`,
    `- One eviction round (the ${evicted.length.toLocaleString('en')} least recently used, with their blocks): ${evictMs.toFixed(0)} ms.`,
    ''
  ]
}

export async function cacheBenchmarks (): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-bench-cache-'))
  try {
    return ['## Backup cache (issue 4)', '', ...await resolveLatencies(dir), ...await atScale(dir)].join('\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
