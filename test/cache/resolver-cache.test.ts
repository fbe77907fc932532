/**
 * The resolver with the backup cache, against real embedded nodes on 127.0.0.1 and real stores (a SQLite
 * file; the shared Redis and PostgreSQL servers for the race). Time moves by an injected clock.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ResolveCache } from '../../src/cache/cache.ts'
import { PostgresStore } from '../../src/cache/postgres-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { SqliteStore } from '../../src/cache/sqlite-store.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { formatTime } from '../../src/did/time.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { Metrics } from '../../src/metrics.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { DAY_MS, HOUR_MS, buildChain, seededKey, testIdentity } from '../helpers/fixtures.ts'
import { eventually, publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import { serviceUrl } from '../helpers/services.ts'
import type { CacheStore } from '../../src/cache/store.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

let a: EmbeddedNode
let c: EmbeddedNode
let d: EmbeddedNode
/** A node with no peers at all: the network is gone. */
let lonely: EmbeddedNode
let dir: string
let nowMs = Date.now()
const clock = (): number => nowMs

beforeAll(async () => {
  [a, c, d] = await startMesh(3) as [EmbeddedNode, EmbeddedNode, EmbeddedNode]
  lonely = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await lonely.start()
  dir = mkdtempSync(join(tmpdir(), 'ipidd-cache-'))
})
afterAll(async () => {
  await stopAll([a, c, d, lonely])
  rmSync(dir, { recursive: true, force: true })
})

let files = 0
async function sqliteCache (metrics?: Metrics): Promise<ResolveCache> {
  const cache = new ResolveCache({ store: new SqliteStore(join(dir, `cache-${files++}.sqlite`)), clock, ...(metrics === undefined ? {} : { metrics }) })
  await cache.start()
  return cache
}

async function reopen (cache: ResolveCache): Promise<ResolveCache> {
  await cache.stop()
  const again = new ResolveCache({ store: cache.store, clock })
  await again.start()
  return again
}

/** Publishes every version of a chain on A (records: sequence = version - 1) and returns the records. */
async function publishChain (chain: DecodedVersionNode[], root: Awaited<ReturnType<typeof seededKey>>): Promise<Uint8Array[]> {
  const records: Uint8Array[] = []
  for (const version of chain) {
    await a.putBlock(version.cid, version.bytes)
    records.push((await createRecord({ privateKey: root, value: version.cid, sequence: BigInt(version.node.version - 1), validUntilMs: Date.now() + 7 * DAY_MS })).bytes)
  }
  return records
}

describe('resolver with the backup cache', () => {
  it('after a restart answers from the cache, verified again, while the network is gone; stale once past the TTL', async () => {
    nowMs = Date.now()
    const id = await testIdentity(600)
    const chain = await buildChain(id, 2, nowMs - 2 * HOUR_MS)
    await publishVersion(a, id.root, chain[0]!)
    await publishVersion(a, id.root, chain[1]!)
    let cache = await sqliteCache()
    const online = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000 })
    const first = await online.resolve(id.did)
    expect(first.didDocumentMetadata.versionId).toBe(chain[1]!.cid.toString())
    online.stop()

    cache = await reopen(cache) // a restarted daemon: nothing in memory
    const metrics = new Metrics()
    const offline = new Resolver({ backend: lonely, cache, clock, watch: false, deadlineMs: 5000, metrics })
    const fresh = await offline.resolve(id.did)
    expect(fresh.didDocument).toEqual(chain[1]!.node.document)
    expect(fresh.didResolutionMetadata).toMatchObject({ source: 'cache', stale: false })
    expect(fresh.didDocumentMetadata).toMatchObject({ versionId: chain[1]!.cid.toString(), created: chain[0]!.node.created })
    // The whole history came back from the store: the first version is still addressable.
    const old = await offline.resolve(id.did, { versionId: chain[0]!.cid.toString() })
    expect(old.didDocument).toEqual(chain[0]!.node.document)

    nowMs += 10 * 60 * 1000 // past the 5-minute TTL; no peer answers
    const stale = await offline.resolve(id.did)
    expect(stale.didDocument).toEqual(chain[1]!.node.document)
    expect(stale.didResolutionMetadata).toMatchObject({ stale: true, source: 'cache' })
    expect(stale.didResolutionMetadata.retrieved).toBe(first.didResolutionMetadata.retrieved)
    expect(await metrics.text()).toMatch(/ipidd_stale_answers_total\{why="stale"\} 1/)
    offline.stop()
    await cache.stop()
  })

  it('serves a record past its EOL only within the grace period, flagged; then notFound saying why', async () => {
    nowMs = Date.now()
    const id = await testIdentity(610)
    const [v1] = await buildChain(id, 1, nowMs - HOUR_MS)
    await a.putBlock(v1!.cid, v1!.bytes)
    const record = await createRecord({ privateKey: id.root, value: v1!.cid, sequence: 0n, validUntilMs: nowMs + DAY_MS })
    await a.putRecord(parseDid(id.did), record.bytes)
    const cache = await sqliteCache()
    const resolver = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000, expiredGraceMs: 6 * HOUR_MS })
    expect((await resolver.resolve(id.did)).didResolutionMetadata.error).toBeUndefined()
    resolver.stop()

    const offline = new Resolver({ backend: lonely, cache, clock, watch: false, expiredGraceMs: 6 * HOUR_MS })
    nowMs += DAY_MS + HOUR_MS
    const expired = await offline.resolve(id.did)
    expect(expired.didDocument).toEqual(v1!.node.document)
    expect(expired.didResolutionMetadata).toMatchObject({ stale: true, expired: true, recordExpires: formatTime(record.validUntilMs) })
    nowMs += 6 * HOUR_MS
    const gone = await offline.resolve(id.did)
    expect(gone.didDocument).toBeNull()
    expect(gone.didResolutionMetadata).toMatchObject({ error: 'notFound', reason: 'expired' })
    expect(gone.didResolutionMetadata.message).toMatch(/expired at .* grace period of 360 minutes has passed/)
    offline.stop()
    await cache.stop()
  })

  it('never serves a tampered entry: a record swapped for another key\'s is refused on read and replaced', async () => {
    nowMs = Date.now()
    const id = await testIdentity(620)
    const [v1] = await buildChain(id, 1, nowMs - HOUR_MS)
    await publishVersion(a, id.root, v1!)
    const metrics = new Metrics()
    const cache = await sqliteCache(metrics)
    const online = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000 })
    await online.resolve(id.did)
    online.stop()

    // Someone with write access to the store puts in a record signed by another key, pointing elsewhere.
    const mallory = await seededKey(629)
    const forged = await createRecord({ privateKey: mallory, value: v1!.cid, sequence: 99n, validUntilMs: nowMs + DAY_MS })
    const path = (cache.store as unknown as { path: string }).path
    const raw = new DatabaseSync(path)
    const row = raw.prepare('SELECT entry FROM names WHERE id = ?').get(parseDid(id.did).id) as { entry: string }
    const tampered = { ...JSON.parse(row.entry) as Record<string, unknown>, record: Buffer.from(forged.bytes).toString('base64'), sequence: '99' }
    raw.prepare('UPDATE names SET entry = ?, token = ? WHERE id = ?').run(JSON.stringify(tampered), 'tampered', parseDid(id.did).id)
    raw.close()

    const offline = new Resolver({ backend: lonely, cache, clock, watch: false, deadlineMs: 1000, metrics })
    const refused = await offline.resolve(id.did)
    expect(refused.didDocument).toBeNull()
    expect(refused.didResolutionMetadata.error).toBe('notFound')
    expect(await metrics.text()).toMatch(/ipidd_cache_store_problems_total 1/)
    offline.stop()

    // Back online, the verified record replaces the tampered entry.
    const healed = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000 })
    expect((await healed.resolve(id.did)).didDocumentMetadata.versionId).toBe(v1!.cid.toString())
    expect((await cache.read(parseDid(id.did).id))?.entry?.sequence).toBe(0n)
    healed.stop()
    await cache.stop()
  })

  it('refuses a rollback offered after a higher sequence, and the cache keeps the higher one across a restart', async () => {
    nowMs = Date.now()
    const id = await testIdentity(630)
    const chain = await buildChain(id, 6, nowMs - 10 * HOUR_MS)
    const records = await publishChain(chain, id.root)
    const metrics = new Metrics()
    let cache = await sqliteCache(metrics)
    const resolver = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000, metrics })
    const name = parseDid(id.did)
    expect(await resolver.offer(name, records[5]!)).toBe('accepted') // sequence 5
    expect(await resolver.offer(name, records[3]!)).toBe('refused') // sequence 3: a rollback
    expect(await metrics.text()).toMatch(/ipidd_rollbacks_refused_total\{kind="rollback",source="offer"\} 1/)
    resolver.stop()
    cache = await reopen(cache)
    expect((await cache.read(name.id))?.entry?.sequence).toBe(5n)
    const again = new Resolver({ backend: c, cache, clock, watch: false, deadlineMs: 5000 })
    expect(await again.offer(name, records[3]!)).toBe('refused')
    expect((await again.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[5]!.cid.toString())
    again.stop()
    await cache.stop()
  })
})

describe('rollback by the network', () => {
  it('a valid lower record arriving by the DHT and by pubsub after sequence 5 changes nothing', async () => {
    nowMs = Date.now()
    const id = await testIdentity(660)
    const chain = await buildChain(id, 6, nowMs - 10 * HOUR_MS)
    const records = await publishChain(chain, id.root)
    const metrics = new Metrics()
    const cache = await sqliteCache(metrics)
    const resolver = new Resolver({ backend: c, cache, clock, deadlineMs: 5000, metrics }) // watches over pubsub
    const name = parseDid(id.did)
    expect(await resolver.offer(name, records[5]!)).toBe('accepted')
    await resolver.resolve(id.did, { noCache: true }).catch(() => undefined) // subscribes; the DHT has nothing yet

    // The only record on the network is sequence 3: A puts it on the DHT and publishes it over pubsub.
    await a.putRecord(name, records[3]!, { signal: AbortSignal.timeout(5000) })
    await eventually(async () => /source="pubsub"/.test(await metrics.text()) ? true : undefined)
    const looked = await resolver.resolve(id.did, { noCache: true })
    expect(looked.didDocumentMetadata.versionId).toBe(chain[5]!.cid.toString())
    const text = await metrics.text()
    expect(text).toMatch(/ipidd_rollbacks_refused_total\{kind="rollback",source="pubsub"\} 1/)
    expect(text).toMatch(/ipidd_rollbacks_refused_total\{kind="rollback",source="network"\} [1-9]/)
    expect((await cache.read(name.id))?.entry?.sequence).toBe(5n)
    resolver.stop()
    await cache.stop()
  })
})

const redisUrl = serviceUrl('IPIDD_TEST_REDIS_URL')
const postgresUrl = serviceUrl('IPIDD_TEST_POSTGRES_URL')
const shared: Array<[string, string | undefined, (prefix: string) => CacheStore]> = [
  ['Redis', redisUrl, prefix => new RedisStore(redisUrl!, { prefix: `ipidd-race-${prefix}:` })],
  ['PostgreSQL', postgresUrl, prefix => new PostgresStore(postgresUrl!, { prefix: `race_${prefix}_` })]
]

describe.each(shared)('two resolvers sharing one %s store', (_kind, url, makeStore) => {
  it.skipIf(url === undefined)('race writes of many sequences; the stored record ends at the maximum every time', async () => {
    nowMs = Date.now()
    for (let round = 0; round < 3; round++) {
      const id = await testIdentity(700 + round * 10)
      const chain = await buildChain(id, 8, nowMs - 10 * HOUR_MS)
      const records = await publishChain(chain, id.root)
      const prefix = `${process.pid}_${Date.now().toString(36)}_${round}`
      const cacheC = new ResolveCache({ store: makeStore(prefix), clock })
      const cacheD = new ResolveCache({ store: makeStore(prefix), clock })
      await cacheC.start()
      await cacheD.start()
      const onC = new Resolver({ backend: c, cache: cacheC, clock, watch: false, deadlineMs: 10_000 })
      const onD = new Resolver({ backend: d, cache: cacheD, clock, watch: false, deadlineMs: 10_000 })
      const name = parseDid(id.did)
      // Every record goes to both, in opposite shuffled orders, all at once.
      const order = records.map((r, i) => ({ r, key: (i * 5 + round * 3) % records.length })).sort((x, y) => x.key - y.key).map(x => x.r)
      const outcomes = await Promise.all([
        ...order.map(async r => onC.offer(name, r)),
        ...[...order].reverse().map(async r => onD.offer(name, r))
      ])
      expect(outcomes.filter(o => o === 'accepted').length).toBeGreaterThanOrEqual(1)
      expect((await cacheC.read(name.id))?.entry?.sequence).toBe(7n)
      expect((await cacheD.read(name.id))?.entry?.sequence).toBe(7n)
      // A late rollback by either changes nothing.
      expect(await onD.offer(name, records[2]!)).toBe('refused')
      expect((await onC.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[7]!.cid.toString())
      expect((await onD.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[7]!.cid.toString())
      onC.stop()
      onD.stop()
      await cacheC.stop()
      await cacheD.stop()
    }
  })
})
