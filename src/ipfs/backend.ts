/**
 * The seam between ipidd and IPFS: blocks and IPNS records, nothing more. Two implementations — the embedded
 * Helia node (`helia.ts`, the default) and a Kubo node over its RPC API (`kubo.ts`) — pass one contract test
 * suite (test/ipfs/contract.ts). Records are passed marshalled and are validated by the caller, never trusted
 * because of where they came from.
 */
import type { IpidName } from '../did/identifier.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** Largest block ipidd fetches: a version node, or a legacy document with room to spare. */
export const MAX_BLOCK_BYTES = 1024 * 1024

export interface IpfsBackend {
  /** Short name for logs and metrics: `helia`, `kubo`. */
  readonly kind: string
  start: (options?: AbortOptions) => Promise<void>
  stop: () => Promise<void>
  /** Stores a block locally and makes it available to the network. */
  putBlock: (cid: CID, bytes: Uint8Array, options?: AbortOptions) => Promise<void>
  /** Fetches a block (locally, else from the network). Throws `BlockNotFoundError` when the deadline passes. */
  getBlock: (cid: CID, options?: AbortOptions) => Promise<Uint8Array>
  /** Puts a marshalled IPNS record on the network (DHT and IPNS over pubsub). */
  putRecord: (name: IpidName, record: Uint8Array, options?: AbortOptions) => Promise<void>
  /**
   * The best record the network has for a name (or, unless `networkOnly`, kept locally from earlier).
   * Throws `RecordNotFoundError` when none arrives in time.
   */
  getRecord: (name: IpidName, options?: GetRecordOptions) => Promise<Uint8Array>
  /**
   * Calls `onRecord` with every record for `name` that arrives over IPNS pubsub, until the returned function is
   * called. Records are unvalidated.
   */
  subscribe: (name: IpidName, onRecord: (record: Uint8Array) => void) => () => void
}

export interface GetRecordOptions extends AbortOptions {
  /**
   * Only a record that peers answered with: never one kept locally when no peer answers (not even the copy in
   * the node's own DHT store, unless a peer put a newer record there than any the node kept). The resolver
   * asks so, because its cache already holds what was seen before and a local copy is no proof of freshness.
   */
  networkOnly?: boolean
}

export class BlockNotFoundError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'BlockNotFoundError'
  }
}

export class RecordNotFoundError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RecordNotFoundError'
  }
}

/** The IPNS-over-pubsub topic of a routing key: `/record/` + base64url (unpadded) of the key. */
export function ipnsPubsubTopic (routingKey: Uint8Array): string {
  return `/record/${Buffer.from(routingKey).toString('base64url')}`
}
