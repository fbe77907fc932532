/**
 * Version-node blocks through keyv: content-addressed and immutable, so a plain set is always safe and
 * concurrent writers cannot disagree. Integrity is checked by the reader (the chain walk verifies each CID).
 */
import Keyv from 'keyv'
import { withinSignal } from './store.ts'
import type { KeyvStoreAdapter } from 'keyv'

export const BLOCK_NAMESPACE = 'ipidd-block'

export class BlockTable {
  private readonly keyv: Keyv<string>

  constructor (adapter: KeyvStoreAdapter, options: { useKeyPrefix?: boolean, namespace?: string } = {}) {
    // Values are stored as base64 text: every adapter stores text, and it reads the same from any client.
    this.keyv = new Keyv<string>({ store: adapter, namespace: options.namespace ?? BLOCK_NAMESPACE, useKeyPrefix: options.useKeyPrefix ?? true })
  }

  /** Each operation gives up at `signal` (`store_timeout`), as every CacheStore operation does. */
  async put (blocks: ReadonlyArray<readonly [cid: string, bytes: Uint8Array]>, signal?: AbortSignal): Promise<void> {
    if (blocks.length === 0) return
    await withinSignal(signal, async () => this.keyv.setMany(blocks.map(([cid, bytes]) => ({ key: cid, value: Buffer.from(bytes).toString('base64') }))))
  }

  async get (cid: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const text = await withinSignal(signal, async () => this.keyv.get(cid))
    return typeof text === 'string' ? new Uint8Array(Buffer.from(text, 'base64')) : undefined
  }

  async delete (cids: string[], signal?: AbortSignal): Promise<void> {
    if (cids.length > 0) await withinSignal(signal, async () => this.keyv.deleteMany(cids))
  }

  on (event: 'error', listener: (err: Error) => void): void {
    this.keyv.on(event, listener)
  }
}
