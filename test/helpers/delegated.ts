/**
 * A fresh Helia node whose only router is a Delegated Routing V1 HTTP endpoint: it resolves an IPNS name the
 * way any IPFS node configured with ipidd as its delegated router would (`@helia/ipns` over the official
 * `@helia/delegated-routing-v1-http-api-client`).
 */
import { delegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import { ipnsResolver } from '@helia/ipns'
import { defaultLogger } from '@libp2p/logger'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { IpidName } from '../../src/did/identifier.ts'
import type { IPNSResolverOptions } from '@helia/ipns'

type IPNSRouting = NonNullable<IPNSResolverOptions['routers']>[number]

const LIBP2P_KEY = 0x72
const IPNS_PREFIX_LENGTH = '/ipns/'.length

export async function resolveThroughDelegatedRouter (url: string, name: IpidName): Promise<CID> {
  const client = delegatedRoutingV1HttpApiClient({ url })({ logger: defaultLogger() })
  const router: IPNSRouting = {
    async put () { throw new Error('this node only resolves') },
    async get (routingKey: Uint8Array, options?: { signal?: AbortSignal }) {
      const cid = CID.createV1(LIBP2P_KEY, Digest.decode(routingKey.subarray(IPNS_PREFIX_LENGTH)))
      return client.getIPNS(cid, options)
    }
  }
  const helia = createHeliaLight({ blockstore: new MemoryBlockstore(), datastore: new MemoryDatastore() })
  await helia.start()
  try {
    const resolver = ipnsResolver(helia as never, { routers: [router] })
    let value: string | undefined
    for await (const result of resolver.resolve(name.multihash as never, { signal: AbortSignal.timeout(10_000) })) value = result.value
    if (value === undefined) throw new Error('the delegated router gave no record')
    return CID.parse(value.replace(/^\/ipfs\//, ''))
  } finally {
    await helia.stop()
    ;(client as { stop?: () => Promise<void> | void }).stop?.()
  }
}
