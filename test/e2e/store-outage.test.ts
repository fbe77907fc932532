/**
 * Acceptance (issue 12, shared store outages): the real `ipid daemon` process on a Redis or PostgreSQL server of
 * the test's own, which the test hangs (SIGSTOP), stops, restarts, crashes and empties.
 *
 * - PostgreSQL restarted (`pg_ctl restart -m fast`) or crashed (its server processes SIGKILLed: crash recovery):
 *   the daemon lives on, reconnects, and stores again.
 * - The store hung or stopped: a warm resolve answers within a bound from the verified state in memory, flagged
 *   `stale`; a record it cannot store is refused with 503 `cache_unavailable`; `/readyz` says 503 meanwhile and 200
 *   once the store answers again; `ipid status` answers within its deadline.
 * - Redis restarted without persistence: the daemon's own identity and its pin are back in the store, a new version
 *   of a name the store forgot is stored, and the keeper republishes both.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDid } from '../../src/did/identifier.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { runIpid, spawnDaemon } from '../helpers/cli.ts'
import { DAY_MS, buildChain, testIdentity } from '../helpers/fixtures.ts'
import { startOwnPostgres, startOwnRedis } from '../helpers/own-services.ts'
import type { DaemonProcess } from '../helpers/cli.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { IpidName } from '../../src/did/identifier.ts'
import type { OwnPostgres, OwnRedis, OwnServer } from '../helpers/own-services.ts'

/**
 * A warm resolve must answer within this while the store hangs: the store deadline (2 s) plus a loaded
 * machine's slack. Before the fix it waited for the store as long as the store hung.
 */
const WARM_RESOLVE_BOUND_MS = 8_000
/** `ipid status` must answer within this while the store hangs (its checks have a 2 s deadline each). */
const STATUS_BOUND_MS = 12_000
/** How long a recovery (reconnect, readiness back to 200, pins re-asserted) may take on a loaded machine. */
const RECOVERY_MS = 30_000
/** The shortest keeper interval the configuration allows; a round can be up to two of them away. */
const KEEPER_INTERVAL_MS = 60_000

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => { for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {}) })

let a: EmbeddedNode
beforeAll(async () => {
  a = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await a.start()
  cleanups.push(async () => a.stop())
})

let seed = 70_000 + Math.floor(Math.random() * 1_000_000)
/** An identity published on `a`: its version nodes there, and a record per version (sequence 1, 2, …) to offer. */
async function published (versions = 1): Promise<{ name: IpidName, records: Uint8Array[], cids: string[] }> {
  const id = await testIdentity(seed += 16)
  const chain = await buildChain(id, versions, Date.now() - DAY_MS)
  const records: Uint8Array[] = []
  for (const [i, node] of chain.entries()) {
    await a.putBlock(node.cid, node.bytes)
    records.push((await createRecord({ privateKey: id.root, value: node.cid, sequence: BigInt(i + 1), validUntilMs: Date.now() + 7 * DAY_MS })).bytes)
  }
  return { name: parseDid(id.did), records, cids: chain.map(node => node.cid.toString()) }
}

function testEnv (dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_PASSPHRASE: 'store outage test passphrase' }
  for (const name of ['IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_LOG_LEVEL']) delete env[name]
  return env
}

async function daemon (cacheUrl: string, config: Record<string, unknown> = {}): Promise<{ process: DaemonProcess, url: string, dataDir: string, env: NodeJS.ProcessEnv }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-outage-'))
  const configFile = join(dataDir, 'test-config.json')
  writeFileSync(configFile, JSON.stringify(config))
  const env = testEnv(dataDir)
  const started = spawnDaemon(['--data-dir', dataDir, '--config', configFile, '--cache-url', cacheUrl, '--bootstrap', a.multiaddrs()[0]!, '--log-level', 'warn'], { env })
  cleanups.push(async () => { started.child.kill('SIGKILL') })
  return { process: started, url: await started.ready, dataDir, env }
}

async function offer (url: string, name: IpidName, record: Uint8Array): Promise<number> {
  const response = await fetch(`${url}/routing/v1/ipns/${name.id}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipfs.ipns-record' }, body: record })
  return response.status
}

async function resolve (url: string, did: string, deadlineMs = RECOVERY_MS): Promise<{ status: number, body: any, ms: number }> {
  const started = performance.now()
  const response = await fetch(`${url}/1.0/identifiers/${did}`, { headers: { accept: 'application/did-resolution' }, signal: AbortSignal.timeout(deadlineMs) })
  return { status: response.status, body: await response.json(), ms: performance.now() - started }
}

async function readyz (url: string): Promise<number> {
  return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(RECOVERY_MS) })).status
}

async function eventually<T> (what: string, probe: () => Promise<T>, ok: (value: T) => boolean, withinMs = RECOVERY_MS): Promise<T> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const value = await probe().catch((err: unknown) => err as T)
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value instanceof Error ? value.message : value)} after ${withinMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

/** A store that hangs (SIGSTOP: connections open, nothing answers) or is stopped (connections refused), and back. */
const faults = {
  hung: { begin: async (store: OwnServer) => store.pause(), end: async (store: OwnServer) => store.resume() },
  stopped: { begin: async (store: OwnServer) => store.stop(), end: async (store: OwnServer) => store.start() }
}
const cases: Array<[string, keyof typeof faults, () => Promise<OwnServer>]> = [
  ['Redis', 'hung', startOwnRedis], ['Redis', 'stopped', startOwnRedis],
  ['PostgreSQL', 'hung', startOwnPostgres], ['PostgreSQL', 'stopped', startOwnPostgres]
]

describe.each(cases)('a %s store %s', (_kind, fault, startStore) => {
  it('leaves warm resolves answering from memory, flagged stale; new records refused (503 cache_unavailable), /readyz 503 and `ipid status` answering meanwhile', { timeout: 240_000 }, async () => {
    const store = await startStore()
    cleanups.push(async () => store.dispose())
    const { process: child, url, dataDir, env } = await daemon(store.url)
    const { name, records } = await published()
    expect(await offer(url, name, records[0]!)).toBe(200)
    const warm = await resolve(url, name.did)
    expect(warm.status).toBe(200)
    expect(warm.body.didResolutionMetadata.stale).toBe(false)
    expect(await readyz(url)).toBe(200)
    const { name: cold, records: coldRecords } = await published()

    await faults[fault].begin(store)
    try {
      const during = await resolve(url, name.did, WARM_RESOLVE_BOUND_MS)
      expect(during.status).toBe(200)
      expect(during.ms).toBeLessThan(WARM_RESOLVE_BOUND_MS)
      expect(during.body.didDocumentMetadata.versionId).toBe(warm.body.didDocumentMetadata.versionId)
      // Honest: the store may hold a newer version written by another daemon, and it could not be asked.
      expect(during.body.didResolutionMetadata).toMatchObject({ stale: true, source: 'verified-state' })
      expect(await readyz(url)).toBe(503)
      // A record of an identity it holds nothing of cannot be stored: refused as retryable, typed.
      const put = await fetch(`${url}/routing/v1/ipns/${cold.id}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.ipfs.ipns-record' }, body: coldRecords[0]!, signal: AbortSignal.timeout(RECOVERY_MS) })
      expect(put.status).toBe(503)
      expect(await put.json()).toMatchObject({ reason: 'cache_unavailable' })

      const statusStarted = performance.now()
      const status = await runIpid(['status', '--json', '--data-dir', dataDir], dataDir, env)
      expect(performance.now() - statusStarted).toBeLessThan(STATUS_BOUND_MS)
      expect(status.code).toBe(1) // degraded
      const report = JSON.parse(status.stdout)
      expect(report.health.checks.cache).not.toBe('ok')
      expect(report.cache.identities).toBeNull() // not known while the store does not answer
    } finally {
      await faults[fault].end(store)
    }
    await eventually('/readyz after the store came back', async () => readyz(url), s => s === 200)
    const after = await resolve(url, name.did)
    expect(after.status).toBe(200)
    expect(after.body.didResolutionMetadata.stale).toBe(false)
    expect(child.child.exitCode).toBeNull()
  })
})

describe('a restarted or crashed PostgreSQL', () => {
  it('does not kill the daemon: it reconnects and stores again', { timeout: 240_000 }, async () => {
    const store: OwnPostgres = await startOwnPostgres()
    cleanups.push(async () => store.dispose())
    const { process: child, url } = await daemon(store.url)
    const { name, records, cids } = await published(3)
    expect(await offer(url, name, records[0]!)).toBe(200)

    for (const [i, fault] of [async () => store.restartFast(), async () => store.crash()].entries()) {
      await fault()
      // The pool's idle connections were ended under it: before the fix, the process died of the 'error' event.
      await new Promise(resolve => setTimeout(resolve, 1_000))
      expect(child.child.exitCode, child.output().stderr).toBeNull()
      await eventually('/readyz after PostgreSQL came back', async () => readyz(url), s => s === 200)
      expect(await offer(url, name, records[i + 1]!)).toBe(200) // a compare-and-swap on the new connections
      const answer = await resolve(url, name.did)
      expect(answer.status).toBe(200)
      expect(answer.body.didDocumentMetadata.versionId).toBe(cids[i + 1])
    }
    expect(child.child.exitCode).toBeNull()
  })
})

describe('a Redis restarted without persistence', () => {
  it('gets the own identity and the pins back from the data directory, and the keeper republishes them', { timeout: 360_000 }, async () => {
    const store: OwnRedis = await startOwnRedis()
    cleanups.push(async () => store.dispose())
    const { url, dataDir, env } = await daemon(store.url, { cache: { keeperIntervalMs: KEEPER_INTERVAL_MS } })
    const created = await runIpid(['init', '--name', 'alice', '--data-dir', dataDir, '--json'], dataDir, env)
    expect(created.code, created.stderr).toBe(0)
    const own = parseDid(JSON.parse(created.stdout).did as string)
    const { name: other, records, cids } = await published(2)
    expect(await offer(url, other, records[0]!)).toBe(200)
    const pinned = await runIpid(['pin', other.did, '--data-dir', dataDir], dataDir, env)
    expect(pinned.code, pinned.stderr).toBe(0)
    // The source of truth: a file in the data directory, owner-only like the rest of it.
    expect(statSync(join(dataDir, 'pins.json')).mode & 0o777).toBe(0o600)
    const pinsInStore = async (): Promise<string> => store.cli('hgetall', 'ipidd:pins')
    expect(await pinsInStore()).toContain(own.id)
    expect(await pinsInStore()).toContain(other.id)

    await store.restartEmpty()
    const restartedAt = new Date()
    expect(await store.cli('dbsize')).toBe('0')
    await eventually('pins re-asserted in the store', pinsInStore, text => typeof text === 'string' && text.includes(own.id) && text.includes(other.id))
    // A new version of a name the store forgot is stored (an insert), not refused as a write that kept losing races.
    expect(await offer(url, other, records[1]!)).toBe(200)
    expect((await resolve(url, other.did)).body.didDocumentMetadata.versionId).toBe(cids[1])

    const round = await eventually('a keeper round after the restart', async () => {
      const status = await runIpid(['status', '--json', '--data-dir', dataDir], dataDir, env)
      return JSON.parse(status.stdout).keeper.last as { startedAt: string, kept: number, republished: number } | null
    }, last => last !== null && last !== undefined && new Date(last.startedAt) >= new Date(Math.floor(restartedAt.getTime() / 1000) * 1000) && last.kept >= 2, 3 * KEEPER_INTERVAL_MS)
    expect(round).toMatchObject({ kept: 2, republished: 2 })
    // The records are back in the store too, for the other daemons sharing it.
    for (const id of [own.id, other.id]) expect(await store.cli('exists', `ipidd:name:${id}`)).toBe('1')
    // With the version nodes under them, so another daemon adopts the whole chain from the store.
    const blockKeys = await store.cli('--scan', '--pattern', 'ipidd:block*')
    for (const cid of cids) expect(blockKeys).toContain(cid)
  })
})
