/**
 * The embedded IPFS node: Helia composed by hand (`createHelia()` would enable public bootstrap, delegated
 * routers, gateways, mDNS, UPnP and AutoTLS). libp2p 3 with TCP, noise, yamux, identify, ping, the Amino Kad-DHT
 * protocol, gossipsub for IPNS over pubsub, and bitswap. It dials nobody it is not told to.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import { FsDatastore } from 'datastore-fs'
import { unmarshalIPNSRecord } from 'ipns'
import { ipnsSelector } from 'ipns/selector'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { base32 } from 'multiformats/bases/base32'
import { ipnsValidator } from 'ipns/validator'
import { OperationError } from '../errors.ts'
import { routingKeyOf } from '../ipns/record.ts'
import { BlockNotFoundError, MAX_BLOCK_BYTES, RecordNotFoundError, ipnsPubsubTopic } from './backend.ts'
import type { IpfsBackend } from './backend.ts'
import type { IpidName } from '../did/identifier.ts'
import type { Logger } from '../log.ts'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'

/** The Amino DHT's protocol: Kubo and public Helia nodes speak it, so ipidd interoperates once connected. */
export const AMINO_DHT_PROTOCOL = '/ipfs/kad/1.0.0'
export const PEER_KEY_FILE = 'libp2p.key'
/** How long one bootstrap dial may take before it is retried later. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000
/** How long putting a record kept while alone may take once a peer is there. */
export const UNSENT_PUT_TIMEOUT_MS = 30_000
/** How soon records kept while alone are tried again when no DHT peer took them yet (connected, not yet in the routing table). */
export const UNSENT_RETRY_MS = 5_000
/** The bootstrap list of the public IPFS network, used only by the `public` network profile. */
export const PUBLIC_BOOTSTRAP = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnGQAwEyrbzaCY6NB9W3pfnDiXr'
]

/**
 * `local` (the default): the node dials only the configured bootstrap peers and keeps private addresses in its
 * DHT (loopback and LAN deployments). `public`: the public bootstrap list is added and private addresses are
 * filtered from the DHT, as on the public network.
 */
export type NetworkProfile = 'local' | 'public'

export interface EmbeddedNodeOptions {
  /** Blocks, datastore and the node's key live here; without it everything is in memory (tests). */
  dataDir?: string
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  network?: NetworkProfile
  /** The node's libp2p key; by default loaded from (or created in) `<dataDir>/libp2p.key`. */
  privateKey?: PrivateKey
  logger?: Logger
}

/** The embedded node, plus what the daemon needs of libp2p itself (PeerId, addresses, dialling). */
export interface EmbeddedNode extends IpfsBackend {
  readonly peerId: PeerId
  multiaddrs: () => string[]
  dial: (address: string, options?: AbortOptions) => Promise<void>
  /** The libp2p node, for protocols of ipidd's own (DIDAuth). */
  readonly libp2p: unknown
  /** The node's datastore (DHT records, local IPNS records): for diagnostics and tests. */
  readonly datastore: Datastore
  /** The best record for a name that this node published or fetched (kept on disk), without asking anyone; unvalidated. */
  keptRecord: (name: IpidName) => Promise<Uint8Array | undefined>
}

/**
 * The packages the embedded node is composed from that are optional peer dependencies of ipidd: `helia` and
 * `@helia/bitswap` depend on `@helia/libp2p`, which pulls `@libp2p/webrtc` and, through it, React Native
 * (~170 MB) into every install. Apps that only resolve remotely do without them; the daemon and
 * `createNodeResolver` load them when a node is made (README: "Use ipidd from an app").
 */
export const EMBEDDED_NODE_PACKAGES = ['helia', '@helia/libp2p', '@helia/bitswap'] as const

/** The optional packages of the embedded node are not installed (reason `embedded_node_unavailable`). */
export class EmbeddedNodeUnavailableError extends OperationError {
  override readonly name = 'EmbeddedNodeUnavailableError'
}

async function loadHelia (): Promise<{ createHeliaLight: typeof import('helia').createHeliaLight, withLibp2pLight: typeof import('@helia/libp2p').withLibp2pLight, withBitswap: typeof import('@helia/bitswap').withBitswap }> {
  try {
    const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }] = await Promise.all([import('helia'), import('@helia/libp2p'), import('@helia/bitswap')])
    return { createHeliaLight, withLibp2pLight, withBitswap }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new EmbeddedNodeUnavailableError('embedded_node_unavailable', `the embedded IPFS node needs ${EMBEDDED_NODE_PACKAGES.join(', ')}, optional ` +
      `packages not installed here: install them next to ipidd (npm install ${EMBEDDED_NODE_PACKAGES.join(' ')}), or use a Kubo node (--kubo-url)`, { cause: err })
  }
}

export async function createEmbeddedNode (options: EmbeddedNodeOptions): Promise<EmbeddedNode> {
  const { createHeliaLight, withLibp2pLight, withBitswap } = await loadHelia()
  const network = options.network ?? 'local'
  const bootstrap = [...(options.bootstrap ?? []), ...(network === 'public' ? PUBLIC_BOOTSTRAP : [])]
  const privateKey = options.privateKey ?? await loadOrCreatePeerKey(options.dataDir)
  const blockstore = options.dataDir === undefined ? new MemoryBlockstore() : new FsBlockstore(join(options.dataDir, 'blocks'))
  const datastore = options.dataDir === undefined ? new MemoryDatastore() : new FsDatastore(join(options.dataDir, 'datastore'))

  const light = createHeliaLight({ blockstore, datastore, codecs: [dagCbor, dagJson] })
  const withP2p = withLibp2pLight(light, {
    privateKey,
    datastore,
    addresses: { listen: options.listen, ...(options.announce === undefined || options.announce.length === 0 ? {} : { announce: options.announce }) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Nothing is discovered or dialled unless configured: no mDNS, no bootstrap list, no relays.
    peerDiscovery: [],
    // The monitor pings every connection each 10 s and, by default, aborts the connection (and every stream on
    // it: DIDAuth handshakes, DHT queries) when one ping fails. Under load a ping stream can outlive its probe,
    // the next probe then hits ping's limit of one outbound stream, and a healthy connection is killed
    // (js-libp2p #3463, #3464). Dead connections are still found by TCP and yamux keep-alive.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      // A peer connected before Helia registered bitswap (libp2p reconnects to known peers as it starts) learns of
      // it only from a push: without one, a restarted node's peers never ask it for blocks on that connection.
      identifyPush: identifyPush(),
      ping: ping(),
      dht: kadDHT({
        protocol: AMINO_DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: network === 'public' ? removePrivateAddressesMapper : passthroughMapper,
        // This node never calls ipns(helia), so it must be told how to validate and select /ipns/ records.
        validators: { ipns: ipnsValidator },
        selectors: { ipns: ipnsSelector }
      }),
      pubsub: gossipsub({ emitSelf: false, allowPublishToZeroTopicPeers: true })
    }
  })
  const helia = withBitswap(withP2p)
  // libp2p exists only once Helia has started. The composed service map is not inferred through the mixins.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const p2p = (): any => helia.libp2p
  const listeners = new Map<string, Set<(record: Uint8Array) => void>>()
  let bootstrapTimer: NodeJS.Timeout | undefined

  // The IPNS spec's "local record": the best record this node published or fetched, per name, under
  // /ipns/<base32 routing key>. Records here are unvalidated; callers validate what they get.
  const localKey = (routingKey: Uint8Array): Key => new Key(`/ipns/${base32.baseEncode(routingKey)}`)
  const localRecord = async (routingKey: Uint8Array): Promise<Uint8Array | undefined> => {
    try {
      return await datastore.get(localKey(routingKey))
    } catch {
      return undefined
    }
  }
  const keepLocally = async (routingKey: Uint8Array, record: Uint8Array): Promise<void> => {
    const current = await localRecord(routingKey)
    if (current !== undefined && sequenceOf(current) > sequenceOf(record)) return
    await datastore.put(localKey(routingKey), record)
  }

  // Records put while the node had no peers, by routing key: kept locally only (the DHT serves its own record
  // store, not these), so they go out when a peer is first known, instead of waiting for the next republish.
  const unsent = new Map<string, Uint8Array>()
  let flushing: Promise<void> | undefined
  let unsentRetry: NodeJS.Timeout | undefined
  const stopping = new AbortController()
  const flushUnsent = (): void => {
    if (unsent.size === 0 || flushing !== undefined) return
    flushing = (async () => {
      for (const [key, routingKey] of [...unsent]) {
        const record = await localRecord(routingKey)
        if (record === undefined) { unsent.delete(key); continue }
        try {
          // Pubsub reaches only those subscribed now; the DHT put is what later joiners find, so it decides.
          void p2p().services.pubsub.publish(ipnsPubsubTopic(routingKey), record).catch(() => {})
          // Sent once a DHT peer stored it: just after identify the routing table may still be empty, and a put
          // that finds no peer ends without error, having reached nobody.
          let stored = 0
          for await (const event of p2p().services.dht.put(routingKey, record, { signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(UNSENT_PUT_TIMEOUT_MS)]) }) as AsyncIterable<DhtEvent>) {
            if (event.name === 'PEER_RESPONSE') stored++
          }
          if (stored > 0) unsent.delete(key)
        } catch (err) {
          options.logger?.debug({ err: (err as Error).message }, 'a record kept while alone could not be put yet; next peer')
        }
      }
    })().finally(() => {
      flushing = undefined
      if (unsent.size > 0 && !stopping.signal.aborted && p2p().getConnections().length > 0) {
        clearTimeout(unsentRetry)
        unsentRetry = setTimeout(flushUnsent, UNSENT_RETRY_MS)
        unsentRetry.unref()
      }
    })
  }
  const onIdentify = (): void => { flushUnsent() }

  // The best record the DHT's peers answer with. The DHT's own answer is one VALUE, the best of the peers'
  // records and the one in its own store (a peer put it here, or this node did) — equal ones resolve to its own:
  // a "network only" lookup that took it would call an answer fresh when no peer answered at all (a black-holed
  // network). So the peers' answers are read from their responses, and the stored record is returned only when
  // it is news: newer than any this node kept (a peer put a version here that this node never saw).
  const fromPeers = async (routingKey: Uint8Array, callOptions: AbortOptions): Promise<Uint8Array> => {
    const self = p2p().peerId as PeerId
    const answers: Uint8Array[] = []
    let stored: Uint8Array | undefined
    try {
      for await (const event of p2p().services.dht.get(routingKey, callOptions) as AsyncIterable<DhtEvent>) {
        if (event.from === undefined) continue
        if (event.name === 'PEER_RESPONSE' && event.record?.value !== undefined && !self.equals(event.from)) answers.push(event.record.value)
        if (event.name === 'VALUE' && event.value !== undefined && self.equals(event.from)) stored = event.value
      }
    } catch (err) {
      if (answers.length === 0 && stored === undefined) throw err // else the deadline cut the query short
    }
    if (answers.length > 0) return answers[ipnsSelector(routingKey, answers)]!
    const kept = await localRecord(routingKey)
    if (stored !== undefined && (kept === undefined || sequenceOf(stored) > sequenceOf(kept))) return stored
    throw new Error('no peer answered')
  }

  const onMessage = (event: { detail: { topic: string, data: Uint8Array } }): void => {
    for (const listener of listeners.get(event.detail.topic) ?? []) listener(event.detail.data)
  }

  const dial = async (address: string, dialOptions: AbortOptions = {}): Promise<void> => {
    await p2p().dial(multiaddr(address), dialOptions)
  }

  const dialBootstrap = async (): Promise<void> => {
    await Promise.all(bootstrap.map(async address => {
      try {
        await dial(address, { signal: AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS) })
      } catch (err) {
        options.logger?.warn({ address, err: (err as Error).message }, 'bootstrap dial failed')
      }
    }))
  }

  return {
    kind: 'helia',
    get peerId () { return p2p().peerId as PeerId },
    get libp2p () { return p2p() },
    datastore,
    keptRecord: async name => localRecord(routingKeyOf(name)),
    multiaddrs: () => (p2p().getMultiaddrs() as Array<{ toString: () => string }>).map(String),
    dial,

    async start () {
      if (options.dataDir !== undefined) {
        mkdirSync(join(options.dataDir, 'blocks'), { recursive: true, mode: 0o700 })
        mkdirSync(join(options.dataDir, 'datastore'), { recursive: true, mode: 0o700 })
      }
      await helia.start()
      p2p().services.pubsub.addEventListener('message', onMessage)
      // After identify the DHT knows whether the peer speaks it: the earliest a put can reach it.
      p2p().addEventListener('peer:identify', onIdentify)
      if (bootstrap.length > 0) {
        void dialBootstrap()
        // Keep trying: a bootstrap peer that was down at start may come up later.
        bootstrapTimer = setInterval(() => {
          if (p2p().getConnections().length === 0) void dialBootstrap()
        }, BOOTSTRAP_DIAL_TIMEOUT_MS)
        bootstrapTimer.unref()
      }
    },

    async stop () {
      clearInterval(bootstrapTimer)
      clearTimeout(unsentRetry)
      p2p().services.pubsub.removeEventListener('message', onMessage)
      p2p().removeEventListener('peer:identify', onIdentify)
      stopping.abort()
      await flushing
      await helia.stop()
    },

    async putBlock (cid, bytes, callOptions = {}) {
      await helia.blockstore.put(cid, bytes, callOptions)
    },

    async getBlock (cid, callOptions = {}) {
      try {
        return await collect(helia.blockstore.get(cid, callOptions) as AsyncIterable<Uint8Array> | Uint8Array, MAX_BLOCK_BYTES)
      } catch (err) {
        if ((err as Error).name === 'BlockTooLargeError') throw err
        throw new BlockNotFoundError(`block ${cid.toString()} could not be fetched: ${(err as Error).message}`, { cause: err })
      }
    },

    async putRecord (name, record, callOptions = {}) {
      const routingKey = routingKeyOf(name)
      await keepLocally(routingKey, record)
      // Alone, the DHT has nobody to store the record with and its query would wait out the deadline; the
      // record is kept locally and goes out when the first peer is identified (or with the next republish).
      if (p2p().getConnections().length === 0) {
        unsent.set(base32.baseEncode(routingKey), routingKey)
        return
      }
      const results = await Promise.allSettled([
        helia.routing.put(routingKey, record, callOptions),
        p2p().services.pubsub.publish(ipnsPubsubTopic(routingKey), record)
      ])
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failures.length === results.length) {
        throw new Error(`could not publish the record: ${String(failures[0]?.reason)}`, { cause: failures[0]?.reason })
      }
    },

    async getRecord (name: IpidName, callOptions = {}) {
      const routingKey = routingKeyOf(name)
      const local = await localRecord(routingKey)
      const fallback = callOptions.networkOnly === true ? undefined : local
      if (p2p().getConnections().length === 0) {
        if (fallback !== undefined) return fallback
        throw new RecordNotFoundError(`no record for ${name.did}: no peers${callOptions.networkOnly === true ? '' : ', and none kept locally'}`)
      }
      try {
        if (callOptions.networkOnly === true) {
          const found = await fromPeers(routingKey, callOptions)
          await keepLocally(routingKey, found)
          return found
        }
        const found = await helia.routing.get(routingKey, callOptions)
        await keepLocally(routingKey, found)
        return (await localRecord(routingKey)) ?? found
      } catch (err) {
        if (fallback !== undefined) return fallback
        throw new RecordNotFoundError(`no record for ${name.did}: ${(err as Error).message}`, { cause: err })
      }
    },

    subscribe (name, onRecord) {
      const topic = ipnsPubsubTopic(routingKeyOf(name))
      let set = listeners.get(topic)
      if (set === undefined) {
        set = new Set()
        listeners.set(topic, set)
        p2p().services.pubsub.subscribe(topic)
      }
      set.add(onRecord)
      return () => {
        const current = listeners.get(topic)
        current?.delete(onRecord)
        if (current !== undefined && current.size === 0) {
          listeners.delete(topic)
          p2p().services.pubsub.unsubscribe(topic)
        }
      }
    }
  }
}

/** What `fromPeers` reads of the DHT's query events: a peer's response (with the record it holds), or the final value. */
interface DhtEvent { name: string, from?: PeerId, value?: Uint8Array, record?: { value?: Uint8Array } }

function sequenceOf (record: Uint8Array): bigint {
  try {
    return unmarshalIPNSRecord(record).sequence
  } catch {
    return -1n
  }
}

export class BlockTooLargeError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BlockTooLargeError'
  }
}

/** Helia 7 yields blocks as chunks; gathers them, refusing more than `limit` bytes. */
async function collect (source: AsyncIterable<Uint8Array> | Uint8Array, limit: number): Promise<Uint8Array> {
  if (source instanceof Uint8Array) {
    if (source.byteLength > limit) throw new BlockTooLargeError(`block larger than ${limit} bytes`)
    return source
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of source) {
    size += chunk.byteLength
    if (size > limit) throw new BlockTooLargeError(`block larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

/** The node's identity persists across restarts: its key lives in the data directory, readable by us only. */
async function loadOrCreatePeerKey (dataDir: string | undefined): Promise<PrivateKey> {
  if (dataDir === undefined) return generateKeyPair('Ed25519')
  const path = join(dataDir, PEER_KEY_FILE)
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
    return key
  }
  return checkedPeerKey(path, bytes)
}

/** What a key pair signs to show that its private half matches the public half the PeerId comes from. */
const PEER_KEY_PROBE = new TextEncoder().encode('ipidd: peer key check')

/**
 * The key file decoded and its pair checked. An Ed25519 key file holds the seed and the public key side by side,
 * and decoding does not check that one belongs to the other: a file damaged in its seed still yields the old
 * PeerId, and the node would start "healthy" while every noise handshake — every connection — fails.
 */
async function checkedPeerKey (path: string, bytes: Uint8Array): Promise<PrivateKey> {
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new PeerKeyError(path, 'it is not a libp2p private key', { cause: err })
  }
  let matches: boolean
  try {
    matches = await key.publicKey.verify(PEER_KEY_PROBE, await key.sign(PEER_KEY_PROBE))
  } catch {
    matches = false // a seed that is no key at all (Node's crypto refuses it)
  }
  if (!matches) throw new PeerKeyError(path, 'its private key does not match its public key')
  return key
}

/** The node's key file is damaged (reason `bad_peer_key`): the node does not start. Names the file, never its bytes. */
export class PeerKeyError extends OperationError {
  override readonly name = 'PeerKeyError'
  constructor (path: string, problem: string, options?: ErrorOptions) {
    super('bad_peer_key', `the libp2p key file ${path} is damaged (${problem}): restore it from a backup to keep this ` +
      'node\'s PeerId, or delete it to start with a new PeerId (peers that know this node by its PeerId or ' +
      'addresses must be given the new one; identities and their DIDs are not affected)', options)
  }
}
