/**
 * createNodeResolver: an app's in-process resolver, with its own embedded node, reaching a publishing node on
 * 127.0.0.1 through the bootstrap address it is given.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Resolver as DidResolver } from 'did-resolver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNodeResolver, NodeResolverError } from '../../src/resolver/node-resolver.ts'
import { buildChain, testIdentity } from '../helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'

let publisher: EmbeddedNode
let id: TestIdentity
let chain: DecodedVersionNode[]
const dirs: string[] = []

beforeAll(async () => {
  [publisher] = await startMesh(1) as [EmbeddedNode]
  id = await testIdentity(6400)
  chain = await buildChain(id, 2, Date.now() - 3_600_000)
  for (const version of chain) await publishVersion(publisher, id.root, version)
})
afterAll(async () => {
  await stopAll([publisher])
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('createNodeResolver', () => {
  it('waits for its bootstrap peer, resolves over the network, plugs into did-resolver, and stops', async () => {
    const resolver = await createNodeResolver({ bootstrap: [publisher.multiaddrs()[0]!] })
    try {
      // It returned only once the peer was connected and identified.
      expect((resolver.node.libp2p as { getPeers: () => unknown[] }).getPeers().map(String)).toContain(publisher.peerId.toString())
      expect(resolver.node.multiaddrs()[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
      const result = await resolver.resolve(id.did)
      expect(result.didDocumentMetadata.versionId).toBe(chain[1]!.cid.toString())
      const viaPlugin = await new DidResolver(resolver.getResolver()).resolve(`${id.did}?versionId=${chain[0]!.cid.toString()}`)
      expect(viaPlugin.didDocumentMetadata.versionId).toBe(chain[0]!.cid.toString())
    } finally {
      await resolver.stop()
    }
  })

  it('fails with no_peers when its bootstrap peer does not answer in time', async () => {
    const silent = `/ip4/127.0.0.1/tcp/9/p2p/${publisher.peerId.toString()}`
    const started = Date.now()
    const err = await createNodeResolver({ bootstrap: [silent], peerWaitMs: 1500 }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(NodeResolverError)
    expect((err as NodeResolverError).reason).toBe('no_peers')
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('keeps what it verified in a cache store under dataDir: answers after a restart with no peers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-node-resolver-'))
    dirs.push(dataDir)
    const first = await createNodeResolver({ dataDir, bootstrap: [publisher.multiaddrs()[0]!] })
    expect((await first.resolve(id.did)).didDocumentMetadata.versionId).toBe(chain[1]!.cid.toString())
    await first.stop()

    const alone = await createNodeResolver({ dataDir, minPeers: 0 })
    try {
      const result = await alone.resolve(id.did)
      expect(result.didResolutionMetadata.error).toBeUndefined()
      expect(result.didDocumentMetadata.versionId).toBe(chain[1]!.cid.toString())
    } finally {
      await alone.stop()
    }
  })
})
