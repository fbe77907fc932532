/**
 * The keeper against real embedded nodes on 127.0.0.1 and a real SQLite store, with an injected clock and
 * an injected random source for its jitter.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ResolveCache } from '../../src/cache/cache.ts'
import { DEFAULT_KEEPER_INTERVAL_MS, KEEPER_JITTER, Keeper } from '../../src/cache/keeper.ts'
import { SqliteStore } from '../../src/cache/sqlite-store.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { createRecord, validateRecord } from '../../src/ipns/record.ts'
import { Metrics } from '../../src/metrics.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { DAY_MS, HOUR_MS, buildChain, testIdentity } from '../helpers/fixtures.ts'
import { eventually, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

let a: EmbeddedNode
let b: EmbeddedNode
let dir: string
let nowMs = Date.now()
const clock = (): number => nowMs

beforeAll(async () => {
  [a, b] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  dir = mkdtempSync(join(tmpdir(), 'ipidd-keeper-'))
})
afterAll(async () => {
  await stopAll([a, b])
  rmSync(dir, { recursive: true, force: true })
})

/** Publishes a one-version identity on A with a record valid until `validUntilMs`. */
async function published (base: number, validUntilMs: number): Promise<{ did: string, record: Uint8Array }> {
  const id = await testIdentity(base)
  const [v1] = await buildChain(id, 1, nowMs - HOUR_MS)
  await a.putBlock(v1!.cid, v1!.bytes)
  const record = await createRecord({ privateKey: id.root, value: v1!.cid, sequence: 0n, validUntilMs })
  await a.putRecord(parseDid(id.did), record.bytes, { signal: AbortSignal.timeout(5000) })
  return { did: id.did, record: record.bytes }
}

describe('keeper', () => {
  it('republishes own and pinned records, fetches pinned ones it lacks, skips expired ones, and follows the clock', async () => {
    nowMs = Date.now()
    const metrics = new Metrics()
    const cache = new ResolveCache({ store: new SqliteStore(join(dir, 'k1.sqlite')), clock, metrics })
    await cache.start()
    const resolver = new Resolver({ backend: b, cache, clock, watch: false, deadlineMs: 5000 })
    const own = await published(900, nowMs + 7 * DAY_MS)
    const pinned = await published(910, nowMs + 7 * DAY_MS)
    const shortLived = await published(920, nowMs + DAY_MS)
    const resolvedOnly = await published(930, nowMs + 7 * DAY_MS)
    await resolver.resolve(own.did)
    await resolver.resolve(shortLived.did)
    await resolver.resolve(resolvedOnly.did)
    await cache.pin(parseDid(own.did).id, 'own')
    await cache.pin(parseDid(pinned.did).id) // pinned before it was ever resolved
    await cache.pin(parseDid(shortLived.did).id)

    const keeper = new Keeper({ backend: b, cache, clock, metrics, random: () => 1, tickMs: 20, fetch: async did => resolver.resolve(did) })
    keeper.start()
    // Nothing is due before the first round's time (a minute after start, jittered up here by a tenth).
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(keeper.last).toBeUndefined()

    nowMs += 2 * DAY_MS // the short-lived record is now past its EOL
    const first = await eventually(async () => keeper.last)
    expect(first).toMatchObject({ kept: 3, republished: 2, expired: 1, failed: 0, missing: 0 })
    expect((await cache.read(parseDid(pinned.did).id))?.entry).toBeDefined() // fetched by the keeper
    const text = await metrics.text()
    expect(text).toMatch(/ipidd_keeper_republishes_total 2/)
    expect(text).toMatch(/ipidd_keeper_failures_total\{reason="expired"\} 1/)

    // The next round waits for the interval (plus the jitter drawn: here the largest).
    const firstAt = first.startedAt
    nowMs += DEFAULT_KEEPER_INTERVAL_MS
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(keeper.last?.startedAt).toBe(firstAt)
    nowMs += Math.ceil(DEFAULT_KEEPER_INTERVAL_MS * KEEPER_JITTER) + 1000
    await eventually(async () => keeper.last?.startedAt !== firstAt ? true : undefined)

    await keeper.stop()
    resolver.stop()
    await cache.stop()
  })

  it('with keepResolved, also republishes identities resolved lately, and the record reaches other nodes', async () => {
    nowMs = Date.now()
    const cache = new ResolveCache({ store: new SqliteStore(join(dir, 'k2.sqlite')), clock })
    await cache.start()
    const resolver = new Resolver({ backend: b, cache, clock, watch: false, deadlineMs: 5000 })
    const recent = await published(940, nowMs + 7 * DAY_MS)
    await resolver.resolve(recent.did)
    await cache.maintain() // writes the use time
    // The network forgets the record (A's and B's DHT stores); only B's keeper can give it back.
    for (const n of [a, b]) {
      for (const prefix of ['/dht/record', '/ipns']) {
        for await (const key of n.datastore.queryKeys({ prefix })) await n.datastore.delete(key)
      }
    }
    await expect(a.getRecord(parseDid(recent.did), { signal: AbortSignal.timeout(1000) })).rejects.toThrow()

    const withoutResolved = new Keeper({ backend: b, cache, clock })
    expect(await withoutResolved.runOnce()).toMatchObject({ kept: 0, republished: 0 })
    const keeper = new Keeper({ backend: b, cache, clock, keepResolved: true })
    expect(await keeper.runOnce()).toMatchObject({ kept: 1, republished: 1 })
    const found = await eventually(async () => a.getRecord(parseDid(recent.did), { signal: AbortSignal.timeout(2000) }).catch(() => undefined))
    expect(found).toEqual(recent.record)
    expect((await validateRecord(parseDid(recent.did), found, nowMs)).sequence).toBe(0n)
    resolver.stop()
    await cache.stop()
  })

  it('keeps the data directory\'s pins in its round while the store does not answer, instead of failing the round', async () => {
    nowMs = Date.now()
    const store = new SqliteStore(join(dir, 'k3.sqlite'))
    const cache = new ResolveCache({ store, clock })
    await cache.start()
    const pinned = parseDid((await testIdentity(950)).did).id
    cache.keepPins(() => [{ id: pinned, kind: 'pinned' }])
    await store.close() // every store call now fails
    const keeper = new Keeper({ backend: b, cache, clock, keepResolved: true })
    // Counted (its record cannot be read now), not dropped: the round before this change threw on the store.
    expect(await keeper.runOnce()).toMatchObject({ kept: 1, republished: 0, failed: 1 })
    await store.open()
    await cache.stop()
  })
})
