/** Real embedded nodes on 127.0.0.1 for tests, and publishing test chains through them. */
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { parseDid } from '../../src/did/identifier.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord } from '../../src/ipns/record.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { PrivateKey } from '@libp2p/interface'

export const DAY_MS = 24 * 60 * 60 * 1000

/** Starts `count` nodes, each connected to all the others. */
export async function startMesh (count: number): Promise<EmbeddedNode[]> {
  const nodes = await Promise.all(Array.from({ length: count }, async () => {
    const node = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await node.start()
    return node
  }))
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.dial(nodes[j]!.multiaddrs()[0]!)
  }
  return nodes
}

export async function stopAll (nodes: Array<{ stop: () => Promise<void> }>): Promise<void> {
  await Promise.allSettled(nodes.map(async n => n.stop()))
}

/** Puts a version node's block and a record pointing at it (sequence = version - 1, or as given). */
export async function publishVersion (node: EmbeddedNode, root: PrivateKey, version: DecodedVersionNode, options: { sequence?: bigint, nowMs?: number } = {}): Promise<Uint8Array> {
  await node.putBlock(version.cid, version.bytes)
  const record = await createRecord({
    privateKey: root,
    value: version.cid,
    sequence: options.sequence ?? BigInt(version.node.version - 1),
    validUntilMs: (options.nowMs ?? Date.now()) + 7 * DAY_MS
  })
  await node.putRecord(parseDid(version.node.document.id), record.bytes, { signal: AbortSignal.timeout(5000) })
  return record.bytes
}

/** Publishes arbitrary content (a legacy document) as dag-json under a root key's name. */
export async function publishLegacy (node: EmbeddedNode, root: PrivateKey, did: string, value: unknown, sequence = 0n): Promise<CID> {
  const bytes = dagJson.encode(value)
  const cid = CID.createV1(dagJson.code, await sha256.digest(bytes))
  await node.putBlock(cid, bytes)
  const record = await createRecord({ privateKey: root, value: cid, sequence, validUntilMs: Date.now() + 7 * DAY_MS })
  await node.putRecord(parseDid(did), record.bytes, { signal: AbortSignal.timeout(5000) })
  return cid
}

export async function eventually<T> (probe: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error('condition not met before the deadline')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
