/**
 * Acceptance (issue 4), rollback under races: two daemons share one cache store (Redis, then PostgreSQL —
 * the real servers `.ci/run` starts). Every record of a name, sequences 0–11, is PUT to both daemons through
 * the delegated routing API at once, in opposite orders; the stored record ends at the maximum every time, and
 * both daemons serve it.
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
import { DAY_MS, HOUR_MS, buildChain, testIdentity } from '../helpers/fixtures.ts'
import { serviceUrl } from '../helpers/services.ts'
import type { Daemon } from '../../src/daemon.ts'

const VERSIONS = 12
const ROUNDS = 3
const stoppers: Array<() => Promise<void>> = []
afterAll(async () => { for (const stop of stoppers.reverse()) await stop().catch(() => {}) })

async function daemon (cacheUrl: string, bootstrap: string): Promise<Daemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-shared-'))
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] }, cache: { url: cacheUrl } } })
  const started = await startDaemon(config, { logger: createLogger('silent') })
  await started.node!.dial(bootstrap)
  return started
}

const stores: Array<[string, string | undefined]> = [
  ['Redis', serviceUrl('IPIDD_TEST_REDIS_URL')],
  ['PostgreSQL', serviceUrl('IPIDD_TEST_POSTGRES_URL')]
]

describe.each(stores)('two daemons sharing one %s cache', (_kind, url) => {
  it.skipIf(url === undefined)('race PUTs of every sequence; the stored record ends at the maximum every time', async () => {
    const a = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.start()
    stoppers.push(async () => a.stop())
    const b1 = await daemon(url!, a.multiaddrs()[0]!)
    const b2 = await daemon(url!, a.multiaddrs()[0]!)
    stoppers.push(async () => b1.stop(), async () => b2.stop())
    expect(b1.cache.store.kind).toBe(b2.cache.store.kind)

    for (let round = 0; round < ROUNDS; round++) {
      const id = await testIdentity(100_000 + Math.floor(Math.random() * 10_000_000))
      const name = parseDid(id.did)
      const chain = await buildChain(id, VERSIONS, Date.now() - 20 * HOUR_MS)
      for (const version of chain) await a.putBlock(version.cid, version.bytes)
      const records = await Promise.all(chain.map(async (v, i) =>
        (await createRecord({ privateKey: id.root, value: v.cid, sequence: BigInt(i), validUntilMs: Date.now() + 7 * DAY_MS })).bytes))
      // As a well-behaved client: a 503 (content not fetched in time on a busy machine) is retried.
      const put = async (target: Daemon, record: Uint8Array): Promise<number> => {
        for (let attempt = 0; ; attempt++) {
          const status = (await fetch(`${target.httpUrl}/routing/v1/ipns/${name.id}`, {
            method: 'PUT', headers: { 'content-type': 'application/vnd.ipfs.ipns-record' }, body: record
          })).status
          if (status !== 503 || attempt === 4) return status
          await new Promise(resolve => setTimeout(resolve, 200))
        }
      }
      const shuffled = records.map((r, i) => ({ r, key: (i * 7 + round * 5) % VERSIONS })).sort((x, y) => x.key - y.key).map(x => x.r)
      const statuses = await Promise.all([
        ...shuffled.map(async r => put(b1, r)),
        ...[...shuffled].reverse().map(async r => put(b2, r))
      ])
      // Every PUT is either stored (200) or refused as a rollback (409): nothing fails, nothing else.
      expect(statuses.filter(s => s !== 200 && s !== 409)).toEqual([])
      expect(statuses.filter(s => s === 200).length).toBeGreaterThan(0)

      for (const target of [b1, b2]) {
        expect((await target.cache.read(name.id))?.entry?.sequence).toBe(BigInt(VERSIONS - 1))
        const response = await fetch(`${target.httpUrl}/routing/v1/ipns/${name.id}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
        expect((await validateRecord(name, new Uint8Array(await response.arrayBuffer()), Date.now())).sequence).toBe(BigInt(VERSIONS - 1))
        expect((await target.resolver.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[VERSIONS - 1]!.cid.toString())
      }
      // A late lower record, offered to either, changes nothing.
      expect(await put(b2, records[3]!)).toBe(409)
      expect((await b1.cache.read(name.id))?.entry?.sequence).toBe(BigInt(VERSIONS - 1))
    }
  })
})
