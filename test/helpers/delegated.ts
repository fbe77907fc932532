/**
 * A fresh Helia node whose only router is a Delegated Routing V1 HTTP endpoint (no libp2p, so no DHT): it
 * resolves an IPNS name the way any IPFS node configured with ipidd as its delegated router would, with
 * `@helia/ipns` over the official `@helia/delegated-routing-v1-http-api-client`.
 */
import { delegatedRoutingV1HttpApiClientContentRouting } from '@helia/delegated-routing-v1-http-api-client'
import { ipns } from '@helia/ipns'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'
import type { IpidName } from '../../src/did/identifier.ts'

export async function resolveThroughDelegatedRouter (url: string, name: IpidName): Promise<CID> {
  const helia = createHeliaLight({ routers: [delegatedRoutingV1HttpApiClientContentRouting({ url })] })
  await helia.start()
  try {
    let value: string | undefined
    for await (const result of ipns(helia).resolve(CID.parse(name.id), { signal: AbortSignal.timeout(10_000) })) value = result.value
    if (value === undefined) throw new Error('the delegated router gave no record')
    return CID.parse(value.replace(/^\/ipfs\//, ''))
  } finally {
    await helia.stop()
  }
}
