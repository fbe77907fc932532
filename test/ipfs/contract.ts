/**
 * The IpfsBackend contract: every implementation runs these against real nodes. `setup` returns two backends
 * that can reach each other (a publisher and a reader) and a teardown.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { didFromPublicKey, parseDid } from '../../src/did/identifier.ts'
import { BlockNotFoundError, RecordNotFoundError } from '../../src/ipfs/backend.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { seededKey } from '../helpers/fixtures.ts'
import type { IpfsBackend } from '../../src/ipfs/backend.ts'

export interface BackendPair {
  publisher: IpfsBackend
  reader: IpfsBackend
  teardown: () => Promise<void>
}

const DEADLINE_MS = 5_000
const HOUR_MS = 3_600_000

async function block (value: unknown): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagCbor.encode(value)
  return { cid: CID.createV1(dagCbor.code, await sha256.digest(bytes)), bytes }
}

async function waitFor<T> (get: () => T | undefined, deadlineMs = DEADLINE_MS): Promise<T> {
  const end = Date.now() + deadlineMs
  for (;;) {
    const value = get()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export function backendContract (kind: string, setup: () => Promise<BackendPair>): void {
  describe(`IpfsBackend contract: ${kind}`, () => {
    let pair: BackendPair
    beforeAll(async () => { pair = await setup() })
    afterAll(async () => { await pair?.teardown() })

    it('a block put on one node is fetched, byte for byte, by the other', async () => {
      const { cid, bytes } = await block({ contract: kind, n: Math.random() })
      await pair.publisher.putBlock(cid, bytes)
      const fetched = await pair.reader.getBlock(cid, { signal: AbortSignal.timeout(DEADLINE_MS) })
      expect(Buffer.from(fetched).equals(Buffer.from(bytes))).toBe(true)
    })

    it('a block nobody has fails with BlockNotFoundError at the deadline', async () => {
      const { cid } = await block({ nobody: 'has this', n: Math.random() })
      await expect(pair.reader.getBlock(cid, { signal: AbortSignal.timeout(300) })).rejects.toBeInstanceOf(BlockNotFoundError)
    })

    it('a record put on one node is found by the other; a higher sequence replaces it', async () => {
      const key = await seededKey(150)
      const name = parseDid(didFromPublicKey(key.publicKey))
      const { cid } = await block({ version: 1 })
      const first = await createRecord({ privateKey: key, value: cid, sequence: 1n, validUntilMs: Date.now() + HOUR_MS })
      await pair.publisher.putRecord(name, first.bytes, { signal: AbortSignal.timeout(DEADLINE_MS) })
      const got = await pair.reader.getRecord(name, { signal: AbortSignal.timeout(DEADLINE_MS) })
      expect(Buffer.from(got).equals(Buffer.from(first.bytes))).toBe(true)

      const second = await createRecord({ privateKey: key, value: cid, sequence: 2n, validUntilMs: Date.now() + HOUR_MS })
      await pair.publisher.putRecord(name, second.bytes, { signal: AbortSignal.timeout(DEADLINE_MS) })
      const newer = await pair.reader.getRecord(name, { signal: AbortSignal.timeout(DEADLINE_MS) })
      expect(Buffer.from(newer).equals(Buffer.from(second.bytes))).toBe(true)
    })

    it('a name nobody published fails with RecordNotFoundError', async () => {
      const name = parseDid(didFromPublicKey((await seededKey(151)).publicKey))
      await expect(pair.reader.getRecord(name, { signal: AbortSignal.timeout(1_000) })).rejects.toBeInstanceOf(RecordNotFoundError)
    })

    it('a subscriber receives records published for the name, and nothing after unsubscribing', async () => {
      const key = await seededKey(152)
      const name = parseDid(didFromPublicKey(key.publicKey))
      const { cid } = await block({ version: 2 })
      const received: Uint8Array[] = []
      const unsubscribe = pair.reader.subscribe(name, record => { received.push(record) })
      const record = await createRecord({ privateKey: key, value: cid, sequence: 7n, validUntilMs: Date.now() + HOUR_MS })
      // Gossipsub needs a heartbeat to learn that the reader subscribed; publish until the record arrives.
      const arrived = waitFor(() => received.find(r => Buffer.from(r).equals(Buffer.from(record.bytes))))
      const publishing = setInterval(() => { void pair.publisher.putRecord(name, record.bytes).catch(() => {}) }, 250)
      try {
        await arrived
      } finally {
        clearInterval(publishing)
      }
      unsubscribe()
      await new Promise(resolve => setTimeout(resolve, 300))
      const count = received.length
      const later = await createRecord({ privateKey: key, value: cid, sequence: 8n, validUntilMs: Date.now() + HOUR_MS })
      await pair.publisher.putRecord(name, later.bytes)
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(received.length).toBe(count)
    })
  })
}
