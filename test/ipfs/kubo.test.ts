/**
 * The Kubo backend. No Kubo binary installs on these machines, so:
 * - the shared contract runs against a real Kubo when IPIDD_TEST_KUBO_URL names its RPC API (with an embedded
 *   Helia node as the other peer, which makes it an interoperability test as well), and is skipped otherwise;
 * - a recorded-exchange test checks the exact RPC requests ipidd makes, against a stand-in HTTP server. It says
 *   so in its name: it is not a real Kubo node.
 */
import { createServer } from 'node:http'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { didFromPublicKey, parseDid } from '../../src/did/identifier.ts'
import { BlockNotFoundError, RecordNotFoundError, ipnsPubsubTopic } from '../../src/ipfs/backend.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createKuboBackend } from '../../src/ipfs/kubo.ts'
import { createRecord, routingKeyOf } from '../../src/ipns/record.ts'
import { seededKey } from '../helpers/fixtures.ts'
import { backendContract } from './contract.ts'
import type { AddressInfo } from 'node:net'

const kuboUrl = process.env.IPIDD_TEST_KUBO_URL

if (kuboUrl !== undefined && kuboUrl !== '') {
  backendContract(`real Kubo at ${kuboUrl}, with an embedded Helia peer`, async () => {
    const reader = createKuboBackend({ url: kuboUrl })
    await reader.start()
    const publisher = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await publisher.start()
    const id = await (await fetch(`${kuboUrl}/api/v0/id`, { method: 'POST' })).json() as { Addresses: string[] }
    const local = id.Addresses.find(a => a.startsWith('/ip4/127.0.0.1/tcp/'))
    if (local === undefined) throw new Error('the Kubo node has no /ip4/127.0.0.1/tcp address to dial')
    await publisher.dial(local)
    return { publisher, reader, teardown: async () => { await Promise.all([publisher.stop(), reader.stop()]) } }
  })
} else {
  describe.skip('IpfsBackend contract: real Kubo (set IPIDD_TEST_KUBO_URL=http://127.0.0.1:5001 to run; no Kubo installs here)', () => {
    it('runs the shared contract against a real Kubo', () => {})
  })
}

interface Exchange { path: string, query: URLSearchParams, body: Buffer }

/** A stand-in for Kubo's RPC API that records every request and answers with Kubo's response shapes. */
async function recordingStandIn (answer: (exchange: Exchange) => { status?: number, type?: string, body: string | Uint8Array }) {
  const exchanges: Exchange[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in')
      const exchange = { path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks) }
      exchanges.push(exchange)
      const { status = 200, type = 'application/json', body } = answer(exchange)
      res.writeHead(status, { 'content-type': type })
      res.end(body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, exchanges, close: async () => { await new Promise(resolve => server.close(resolve)) } }
}

describe('Kubo backend: RPC request shapes (recorded exchanges against a stand-in server; not a real Kubo node)', () => {
  it('stores blocks as CIDv1 dag-cbor/sha2-256, records by text routing key with allow-offline, and pubsub on the IPNS topic', async () => {
    const key = await seededKey(170)
    const name = parseDid(didFromPublicKey(key.publicKey))
    const bytes = dagCbor.encode({ kubo: 'shapes' })
    const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    const record = await createRecord({ privateKey: key, value: cid, sequence: 3n, validUntilMs: Date.now() + 3_600_000 })
    const standIn = await recordingStandIn(({ path }) => {
      switch (path) {
        case '/api/v0/id': return { body: JSON.stringify({ ID: '12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew', Addresses: [] }) }
        case '/api/v0/block/put': return { body: JSON.stringify({ Key: cid.toString(), Size: bytes.length }) }
        case '/api/v0/block/get': return { type: 'application/octet-stream', body: bytes }
        case '/api/v0/routing/put': return { type: 'application/json', body: '' }
        case '/api/v0/routing/get': return { body: JSON.stringify({ Type: 5, Extra: Buffer.from(record.bytes).toString('base64') }) + '\n' }
        case '/api/v0/pubsub/pub': return { body: '' }
        default: return { status: 404, body: JSON.stringify({ Message: `no ${path}`, Code: 0, Type: 'error' }) }
      }
    })
    try {
      const kubo = createKuboBackend({ url: standIn.url })
      await kubo.start()
      await kubo.putBlock(cid, bytes)
      expect(Buffer.from(await kubo.getBlock(cid)).equals(Buffer.from(bytes))).toBe(true)
      await kubo.putRecord(name, record.bytes)
      expect(Buffer.from(await kubo.getRecord(name)).equals(Buffer.from(record.bytes))).toBe(true)

      const byPath = (p: string): Exchange => standIn.exchanges.find(e => e.path === p) ?? expect.fail(`no request to ${p}`)
      const put = byPath('/api/v0/block/put')
      expect(Object.fromEntries(put.query)).toMatchObject({ format: 'dag-cbor', mhtype: 'sha2-256', version: '1' })
      expect(put.body.includes(Buffer.from(bytes))).toBe(true)
      expect(byPath('/api/v0/block/get').query.get('arg')).toBe(cid.toString())
      const routingPut = byPath('/api/v0/routing/put')
      expect(routingPut.query.get('arg')).toBe(`/ipns/${name.id}`)
      expect(routingPut.query.get('allow-offline')).toBe('true')
      expect(routingPut.body.includes(Buffer.from(record.bytes))).toBe(true)
      expect(byPath('/api/v0/routing/get').query.get('arg')).toBe(`/ipns/${name.id}`)
      const pub = byPath('/api/v0/pubsub/pub')
      // Kubo's RPC takes topics multibase-encoded (base64url, prefix u).
      expect(pub.query.get('arg')).toBe('u' + Buffer.from(ipnsPubsubTopic(routingKeyOf(name))).toString('base64url'))
      expect(pub.body.includes(Buffer.from(record.bytes))).toBe(true)
    } finally {
      await standIn.close()
    }
  })

  it('maps Kubo errors to BlockNotFoundError and RecordNotFoundError', async () => {
    const name = parseDid(didFromPublicKey((await seededKey(171)).publicKey))
    const standIn = await recordingStandIn(({ path }) => path === '/api/v0/routing/get'
      ? { status: 500, body: JSON.stringify({ Message: 'routing: not found', Code: 0, Type: 'error' }) }
      : { status: 500, body: JSON.stringify({ Message: 'block was not found locally (offline)', Code: 0, Type: 'error' }) })
    try {
      const kubo = createKuboBackend({ url: standIn.url })
      await expect(kubo.getBlock(CID.parse('bafkqaaa'))).rejects.toBeInstanceOf(BlockNotFoundError)
      await expect(kubo.getRecord(name)).rejects.toBeInstanceOf(RecordNotFoundError)
    } finally {
      await standIn.close()
    }
  })
})
