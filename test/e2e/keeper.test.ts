/**
 * Acceptance (issue 4), on 127.0.0.1 with real nodes and an injected clock:
 * - Owner offline: A publishes and stops for good. Three simulated days later (the DHT has dropped the record —
 *   simulated by deleting it from every node's datastore — while the record is still valid), B's keeper has
 *   republished it, and a new node D that only knows B resolves A's DID through the DHT; a fresh Helia node that
 *   uses B only as a delegated router (Delegated Routing V1 HTTP) resolves the name too.
 * - Network gone: with every peer disconnected, B answers from its cache, flagged stale.
 * - Rollback: a lower record offered by the routing PUT endpoint changes nothing.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord, validateRecord } from '../../src/ipns/record.ts'
import { createLogger } from '../../src/log.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { DAY_MS, HOUR_MS, buildChain, testIdentity } from '../helpers/fixtures.ts'
import { eventually } from '../helpers/network.ts'
import { resolveThroughDelegatedRouter } from '../helpers/delegated.ts'
import type { Daemon } from '../../src/daemon.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

const stoppers: Array<() => Promise<void>> = []
afterAll(async () => { for (const stop of stoppers.reverse()) await stop().catch(() => {}) })

let nowMs = Date.now()
const clock = (): number => nowMs

async function node (): Promise<EmbeddedNode> {
  const n = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await n.start()
  stoppers.push(async () => n.stop())
  return n
}

/** Forgets every DHT and locally kept IPNS record: what the DHT does ~48 h after the last put. */
async function forgetRecords (n: EmbeddedNode): Promise<number> {
  let removed = 0
  for (const prefix of ['/dht/record', '/ipns']) {
    for await (const key of n.datastore.queryKeys({ prefix })) {
      await n.datastore.delete(key)
      removed++
    }
  }
  return removed
}

describe('the keeper keeps an offline owner resolvable', () => {
  it('three days after A went offline, D (knowing only B) and a delegated-routing client resolve A', async () => {
    const a = await node()
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-keeper-'))
    const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } })
    const b: Daemon = await startDaemon(config, { logger: createLogger('silent'), clock, keeperTickMs: 50 })
    stoppers.push(async () => b.stop())
    await b.node!.dial(a.multiaddrs()[0]!)

    // A publishes two versions, valid for 7 days, and B pins A's DID.
    const id = await testIdentity(40_000 + Math.floor(Math.random() * 1_000_000))
    const chain = await buildChain(id, 2, nowMs - 2 * HOUR_MS)
    for (const version of chain) await a.putBlock(version.cid, version.bytes)
    const records = await Promise.all(chain.map(async (v, i) =>
      createRecord({ privateKey: id.root, value: v.cid, sequence: BigInt(i), validUntilMs: nowMs + 7 * DAY_MS })))
    await a.putRecord(parseDid(id.did), records[1]!.bytes, { signal: AbortSignal.timeout(5000) })
    await b.pin(id.did)
    expect((await b.resolver.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[1]!.cid.toString())
    // B fetches the first version too, so that it can serve the whole history to others.
    expect((await b.resolver.resolve(id.did, { versionId: chain[0]!.cid.toString() })).didDocument).toEqual(chain[0]!.node.document)

    // A stops for good. Three days pass: the DHT forgets the record; the record itself is valid for four more.
    await a.stop()
    expect(await forgetRecords(b.node!)).toBeGreaterThan(0)
    const d = await node()
    await d.dial(b.node!.multiaddrs()[0]!)
    await expect(d.getRecord(parseDid(id.did), { signal: AbortSignal.timeout(1500) })).rejects.toThrow()
    nowMs += 3 * DAY_MS

    // B's keeper notices the round is due (by the injected clock) and republishes what it keeps.
    const round = await eventually(async () => b.keeper.last !== undefined && Date.parse(b.keeper.last.startedAt) >= nowMs - 1000 ? b.keeper.last : undefined)
    expect(round).toMatchObject({ republished: 1, failed: 0, expired: 0, missing: 0 })
    expect(await b.metrics.text()).toMatch(/ipidd_keeper_republishes_total [1-9]/)

    // D, which never met A, resolves A's DID through the DHT (B is its only peer).
    const found = await d.getRecord(parseDid(id.did), { signal: AbortSignal.timeout(5000) })
    expect((await validateRecord(parseDid(id.did), found, nowMs)).sequence).toBe(1n)
    const onD = new Resolver({ backend: d, clock, watch: false, deadlineMs: 10_000 })
    const resolved = await onD.resolve(id.did)
    onD.stop()
    expect(resolved.didResolutionMetadata.error).toBeUndefined()
    expect(resolved.didDocument).toEqual(chain[1]!.node.document)

    // A fresh Helia node that knows B only as its delegated router resolves the name to A's current version.
    expect((await resolveThroughDelegatedRouter(b.httpUrl, parseDid(id.did))).toString()).toBe(chain[1]!.cid.toString())

    // Rollback by the routing PUT endpoint: refused, nothing changes.
    const put = await fetch(`${b.httpUrl}/routing/v1/ipns/${parseDid(id.did).id}`, {
      method: 'PUT', headers: { 'content-type': 'application/vnd.ipfs.ipns-record' }, body: records[0]!.bytes
    })
    expect(put.status).toBe(409)
    const got = await fetch(`${b.httpUrl}/routing/v1/ipns/${parseDid(id.did).id}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
    expect(got.status).toBe(200)
    expect((await validateRecord(parseDid(id.did), new Uint8Array(await got.arrayBuffer()), nowMs)).sequence).toBe(1n)

    // Network gone: every peer disconnected, past the TTL. B answers from its cache, flagged stale.
    await d.stop()
    await eventually(async () => (b.node!.libp2p as { getConnections: () => unknown[] }).getConnections().length === 0 ? true : undefined)
    nowMs += HOUR_MS
    const response = await fetch(`${b.httpUrl}/1.0/identifiers/${encodeURIComponent(id.did)}`)
    const body = await response.json() as { didDocument: unknown, didResolutionMetadata: Record<string, unknown> }
    expect(response.status).toBe(200)
    expect(body.didDocument).toEqual(chain[1]!.node.document)
    expect(body.didResolutionMetadata).toMatchObject({ stale: true })

    // Everything above is visible to Prometheus.
    const metrics = await fetch(`${b.httpUrl}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await metrics.text()
    for (const series of ['ipidd_cache_hits_total', 'ipidd_stale_answers_total{why="stale"}', 'ipidd_network_lookups_total',
      'ipidd_rollbacks_refused_total{kind="rollback",source="offer"}', 'ipidd_keeper_republishes_total', 'ipidd_cache_store_seconds_bucket', 'ipidd_process_cpu_seconds_total']) {
      expect(text).toContain(series)
    }
  })
})
