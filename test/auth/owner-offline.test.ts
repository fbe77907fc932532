/**
 * Owner offline (issue 6, acceptance): the prover's DID record exists only in the verifier's backup cache. The
 * owner's publishing node N1 handed the record to V's resolver and went away; V restarted (a new resolver over
 * the same SQLite cache); nobody on the network holds the record any more. The owner's key, on another node P2,
 * still authenticates to V, and V's session says the document came from the cache — also once the cached answer
 * is past its TTL and the network is asked in vain.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DidAuthService } from '../../src/auth/service.ts'
import { ResolveCache } from '../../src/cache/cache.ts'
import { SqliteStore } from '../../src/cache/sqlite-store.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { createFirstVersion } from '../../src/did/version-node.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { DAY_MS, documentWithAuthKey, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { fixtureSigner, startAuthStack, testClock } from '../helpers/didauth.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { AuthStack } from '../helpers/didauth.ts'
import type { Libp2p } from '@libp2p/interface'

const clock = testClock()
const dir = mkdtempSync(join(tmpdir(), 'ipidd-didauth-offline-'))
const cleanup: Array<() => Promise<unknown> | unknown> = []

afterAll(async () => {
  for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

async function node (): Promise<EmbeddedNode> {
  const n = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await n.start()
  cleanup.push(async () => n.stop())
  return n
}

describe('owner offline', () => {
  it('the prover\'s record is only in the verifier\'s cache: the handshake succeeds and the session says source: cache', async () => {
    const owner = await testIdentity(7100)
    const path = join(dir, 'cache.sqlite')
    const [n1, v] = await Promise.all([node(), node()])
    await n1.dial(v.multiaddrs()[0]!)

    // V's first run: the owner's node offers its record; V verifies it (fetching the version node from N1) and caches it.
    const version = await createFirstVersion({ document: documentWithAuthKey(owner.did, owner.auth[0]!), updateKeys: [multikeyOf(owner.update[0]!)] }, owner.root, clock())
    await n1.putBlock(version.cid, version.bytes)
    const record = await createRecord({ privateKey: owner.root, value: version.cid, sequence: 0n, validUntilMs: clock() + 7 * DAY_MS })
    const firstCache = new ResolveCache({ store: new SqliteStore(path), clock })
    await firstCache.start()
    const firstRun = new Resolver({ backend: v, clock, cache: firstCache })
    expect(await firstRun.offer(parseDid(owner.did), record.bytes)).toBe('accepted')
    firstRun.stop()
    await firstCache.stop()
    await n1.stop()

    // The owner's key now lives on P2, V's only peer; nobody holds the record.
    const p2: AuthStack = await startAuthStack({ clock, signer: fixtureSigner(owner.did, owner.auth[0]!) })
    cleanup.push(async () => p2.stop())
    await p2.node.dial(v.multiaddrs()[0]!)
    await expect(v.getRecord(parseDid(owner.did), { networkOnly: true, signal: AbortSignal.timeout(2000) })).rejects.toThrow()

    // V's second run: a new resolver over the same cache.
    const cache = new ResolveCache({ store: new SqliteStore(path), clock })
    await cache.start()
    const resolver = new Resolver({ backend: v, clock, cache, deadlineMs: 1000, refreshWaitMs: 200 })
    const service = new DidAuthService({ libp2p: v.libp2p as Libp2p, resolver, clock })
    await service.start()
    cleanup.push(async () => { await service.stop(); resolver.stop(); await cache.stop() })

    const session = await service.authenticate(p2.peerId)
    expect(session).toMatchObject({ did: owner.did, keyId: `${owner.did}#auth-1`, versionId: version.cid.toString(), source: 'cache' })

    // Past the record's TTL the network is asked first, in vain: the cached version still answers, still from the cache.
    clock.advance(10 * 60_000)
    const later = await service.authenticate(p2.peerId)
    expect(later).toMatchObject({ did: owner.did, versionId: version.cid.toString(), source: 'cache' })
  })
})
