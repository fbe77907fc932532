/**
 * The embedded Helia node: the backend contract between two real nodes on 127.0.0.1, and what only the
 * embedded node promises (persistent identity and blocks, no dialling by default, late joiners).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { didFromPublicKey, parseDid } from '../../src/did/identifier.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { seededKey } from '../helpers/fixtures.ts'
import { backendContract } from './contract.ts'
import { eventually } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

async function startNode (options: { dataDir?: string, bootstrap?: string[] } = {}): Promise<EmbeddedNode> {
  const node = await createEmbeddedNode({ listen: LOOPBACK, ...options })
  await node.start()
  return node
}

backendContract('embedded Helia node', async () => {
  const publisher = await startNode()
  const reader = await startNode({ bootstrap: publisher.multiaddrs() })
  await reader.dial(publisher.multiaddrs()[0]!)
  return { publisher, reader, teardown: async () => { await Promise.all([publisher.stop(), reader.stop()]) } }
})

describe('embedded Helia node', () => {
  it('keeps its PeerId and its blocks across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-helia-'))
    const bytes = dagCbor.encode({ persisted: true })
    const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    const first = await startNode({ dataDir })
    const peerId = first.peerId.toString()
    await first.putBlock(cid, bytes)
    await first.stop()
    const second = await startNode({ dataDir })
    try {
      expect(second.peerId.toString()).toBe(peerId)
      expect(Buffer.from(await second.getBlock(cid, { signal: AbortSignal.timeout(1000) })).equals(Buffer.from(bytes))).toBe(true)
    } finally {
      await second.stop()
    }
  })

  it('alone, a node keeps the records it publishes and answers them at once; a lower sequence never replaces them', async () => {
    const node = await startNode()
    try {
      const key = await seededKey(161)
      const name = parseDid(didFromPublicKey(key.publicKey))
      const value = CID.parse('bafkqaaa')
      const newer = await createRecord({ privateKey: key, value, sequence: 5n, validUntilMs: Date.now() + 3_600_000 })
      const older = await createRecord({ privateKey: key, value, sequence: 4n, validUntilMs: Date.now() + 3_600_000 })
      // Deadlines far shorter than a DHT query's: the calls must not wait on the network at all.
      await node.putRecord(name, newer.bytes, { signal: AbortSignal.timeout(1000) })
      await node.putRecord(name, older.bytes, { signal: AbortSignal.timeout(1000) })
      expect(Buffer.from(await node.getRecord(name, { signal: AbortSignal.timeout(1000) })).equals(Buffer.from(newer.bytes))).toBe(true)
    } finally {
      await node.stop()
    }
  })

  it('a record published while alone goes out once a peer is there: a node that connects later finds it on the DHT', async () => {
    const a = await startNode()
    let b: EmbeddedNode | undefined
    try {
      const key = await seededKey(162)
      const name = parseDid(didFromPublicKey(key.publicKey))
      const record = await createRecord({ privateKey: key, value: CID.parse('bafkqaaa'), sequence: 3n, validUntilMs: Date.now() + 3_600_000 })
      await a.putRecord(name, record.bytes, { signal: AbortSignal.timeout(1000) })
      b = await startNode()
      await b.dial(a.multiaddrs()[0]!)
      // B asks the network only (not its own local records): A must have put it on the DHT when B appeared.
      const found = await eventually(async () => b!.getRecord(name, { networkOnly: true, signal: AbortSignal.timeout(2000) }).catch(() => undefined))
      expect(Buffer.from(found).equals(Buffer.from(record.bytes))).toBe(true)
    } finally {
      await Promise.all([a.stop(), b?.stop()])
    }
  })

  it('dials nobody unless told to, and listens only where configured', async () => {
    const node = await startNode()
    try {
      await new Promise(resolve => setTimeout(resolve, 500))
      expect((node.libp2p as { getConnections: () => unknown[] }).getConnections()).toHaveLength(0)
      expect(node.multiaddrs().every(a => a.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    } finally {
      await node.stop()
    }
  })

  it('a node that joins after the publisher stopped still finds the record and block through the others', async () => {
    const a = await startNode()
    const b = await startNode({ bootstrap: a.multiaddrs() })
    await b.dial(a.multiaddrs()[0]!)
    const key = await seededKey(160)
    const name = parseDid(didFromPublicKey(key.publicKey))
    const bytes = dagCbor.encode({ late: 'joiner' })
    const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    await a.putBlock(cid, bytes)
    // B holds the block (it fetched it) and the record (the DHT stored it with B).
    await b.getBlock(cid, { signal: AbortSignal.timeout(5000) })
    const record = await createRecord({ privateKey: key, value: cid, sequence: 1n, validUntilMs: Date.now() + 3_600_000 })
    await a.putRecord(name, record.bytes, { signal: AbortSignal.timeout(5000) })
    await a.stop()
    const d = await startNode({ bootstrap: b.multiaddrs() })
    try {
      await d.dial(b.multiaddrs()[0]!)
      expect(Buffer.from(await d.getRecord(name, { signal: AbortSignal.timeout(5000) })).equals(Buffer.from(record.bytes))).toBe(true)
      expect(Buffer.from(await d.getBlock(cid, { signal: AbortSignal.timeout(5000) })).equals(Buffer.from(bytes))).toBe(true)
    } finally {
      await Promise.all([b.stop(), d.stop()])
    }
  })
})
