/**
 * A Kubo node as the IPFS backend, over its RPC API (`kubo-rpc-client`). Keys stay in ipidd: records are signed
 * here and stored with `routing/put` (Kubo's `key/import` is reported broken, js-kubo-rpc-client#233); blocks
 * go in with `block/put`. IPNS over pubsub needs Kubo's pubsub enabled (`--enable-pubsub-experiment`); without
 * it, `subscribe` delivers nothing and records travel by the DHT alone.
 */
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { routingKeyOf } from '../ipns/record.ts'
import { BlockNotFoundError, MAX_BLOCK_BYTES, RecordNotFoundError, ipnsPubsubTopic } from './backend.ts'
import type { IpfsBackend } from './backend.ts'
import type { Logger } from '../log.ts'

const CODEC_NAMES: Record<number, string> = { 0x71: 'dag-cbor', 0x0129: 'dag-json', 0x70: 'dag-pb', 0x55: 'raw', 0x0200: 'json' }
const HASH_NAMES: Record<number, string> = { 0x12: 'sha2-256' }

export interface KuboBackendOptions {
  /** Kubo's RPC API, e.g. `http://127.0.0.1:5001`. */
  url: string
  logger?: Logger
}

export function createKuboBackend (options: KuboBackendOptions): IpfsBackend {
  const client = create({ url: options.url })
  const subscriptions = new Map<string, { handler: (message: { data: Uint8Array }) => void, listeners: Set<(record: Uint8Array) => void> }>()

  return {
    kind: 'kubo',

    async start (callOptions = {}) {
      // Fails fast, with Kubo's own error, when the RPC API is not there.
      await client.id({ signal: callOptions.signal ?? AbortSignal.timeout(10_000) })
    },

    async stop () {
      await Promise.allSettled([...subscriptions.keys()].map(async topic => client.pubsub.unsubscribe(topic)))
      subscriptions.clear()
    },

    async putBlock (cid, bytes, callOptions = {}) {
      const format = CODEC_NAMES[cid.code]
      const mhtype = HASH_NAMES[cid.multihash.code]
      if (format === undefined || mhtype === undefined) {
        throw new Error(`cannot store a block with codec 0x${cid.code.toString(16)} / hash 0x${cid.multihash.code.toString(16)} in Kubo`)
      }
      const stored = await client.block.put(bytes, { format, mhtype, version: 1, ...callOptions })
      if (!CID.asCID(stored)?.equals(cid)) {
        throw new Error(`Kubo stored the block as ${String(stored)}, not ${cid.toString()}`)
      }
    },

    async getBlock (cid, callOptions = {}) {
      let bytes: Uint8Array
      try {
        bytes = await client.block.get(cid, callOptions)
      } catch (err) {
        throw new BlockNotFoundError(`block ${cid.toString()} could not be fetched from Kubo: ${(err as Error).message}`, { cause: err })
      }
      if (bytes.byteLength > MAX_BLOCK_BYTES) throw new Error(`block larger than ${MAX_BLOCK_BYTES} bytes`)
      return bytes
    },

    async putRecord (name, record, callOptions = {}) {
      // Routing keys are passed as text, `/ipns/k51…`: Kubo rejects the binary form over RPC.
      for await (const event of client.routing.put(`/ipns/${name.id}`, record, { allowOffline: true, ...callOptions })) {
        if (event.name === 'QUERY_ERROR') options.logger?.debug({ did: name.did, err: event.error.message }, 'kubo routing/put query error')
      }
      try {
        await client.pubsub.publish(ipnsPubsubTopic(routingKeyOf(name)), record, callOptions)
      } catch (err) {
        options.logger?.debug({ did: name.did, err: (err as Error).message }, 'kubo pubsub publish failed (pubsub disabled?)')
      }
    },

    async getRecord (name, callOptions = {}) {
      // Kubo answers from its own routing: nothing local to leave out, and the client must not see the flag.
      const { networkOnly: _networkOnly, ...rpcOptions } = callOptions
      try {
        for await (const event of client.routing.get(`/ipns/${name.id}`, rpcOptions)) {
          if (event.name === 'VALUE') return event.value
        }
      } catch (err) {
        throw new RecordNotFoundError(`no record for ${name.did} from Kubo: ${(err as Error).message}`, { cause: err })
      }
      throw new RecordNotFoundError(`no record for ${name.did} from Kubo`)
    },

    subscribe (name, onRecord) {
      const topic = ipnsPubsubTopic(routingKeyOf(name))
      let subscription = subscriptions.get(topic)
      if (subscription === undefined) {
        const listeners = new Set<(record: Uint8Array) => void>()
        const handler = (message: { data: Uint8Array }): void => { for (const listener of listeners) listener(message.data) }
        subscription = { handler, listeners }
        subscriptions.set(topic, subscription)
        client.pubsub.subscribe(topic, handler as never).catch((err: Error) => {
          options.logger?.warn({ did: name.did, err: err.message }, 'kubo pubsub subscribe failed (pubsub disabled?)')
        })
      }
      subscription.listeners.add(onRecord)
      return () => {
        const current = subscriptions.get(topic)
        current?.listeners.delete(onRecord)
        if (current !== undefined && current.listeners.size === 0) {
          subscriptions.delete(topic)
          void client.pubsub.unsubscribe(topic, current.handler as never).catch(() => {})
        }
      }
    }
  }
}
