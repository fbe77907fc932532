/**
 * The Delegated Routing V1 IPNS endpoints over a real HTTP server on 127.0.0.1, with a context that really
 * validates records and keeps the best one, exercised with plain fetch and with the official
 * `@helia/delegated-routing-v1-http-api-client`.
 */
import { delegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import { defaultLogger } from '@libp2p/logger'
import express from 'express'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { equivalentDids, parseDid } from '../../src/did/identifier.ts'
import { MAX_RECORD_BYTES, compareRecords, createRecord, validateRecord } from '../../src/ipns/record.ts'
import { IPNS_RECORD_MEDIA_TYPE, routingRouter } from '../../src/http/routing-v1.ts'
import { DAY_MS, seededKey } from '../helpers/fixtures.ts'
import type { ValidatedRecord } from '../../src/ipns/record.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const held = new Map<string, ValidatedRecord>()
let server: Server
let url: string
const value = CID.parse('bafyreibzxzgknm7ekxvfra46c3zubvt73sipiokydcgrfcnat3clqdxuhy')

beforeAll(async () => {
  const app = express()
  app.use(routingRouter({
    getRecord: async name => held.get(name.id)?.bytes,
    putRecord: async (name, bytes) => {
      const record = await validateRecord(name, bytes, Date.now())
      const current = held.get(name.id)
      if (current !== undefined) {
        const order = compareRecords(record, current)
        if (order === 0) return 'unchanged'
        if (order < 0) return 'refused'
      }
      held.set(name.id, record)
      return 'accepted'
    }
  }))
  server = app.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => { await new Promise(resolve => server.close(resolve)) })

async function record (seed: number, sequence: bigint): Promise<{ did: string, bytes: Uint8Array }> {
  const key = await seededKey(seed)
  const { didFromPublicKey } = await import('../../src/did/identifier.ts')
  const created = await createRecord({ privateKey: key, value, sequence, validUntilMs: Date.now() + DAY_MS })
  return { did: didFromPublicKey(key.publicKey), bytes: created.bytes }
}

const put = async (name: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/routing/v1/ipns/${name}`, { method: 'PUT', headers: { 'content-type': IPNS_RECORD_MEDIA_TYPE, ...headers }, body })

describe('delegated routing V1: IPNS', () => {
  it('round-trips a record with the official client, under every spelling of the name', async () => {
    const { did, bytes } = await record(3001, 4n)
    const name = parseDid(did)
    const client = delegatedRoutingV1HttpApiClient({ url })({ logger: defaultLogger() })
    const key = CID.parse(name.id)
    await client.putIPNS(key, bytes)
    expect(await client.getIPNS(key)).toEqual(bytes)
    for (const spelling of [name.id, ...equivalentDids(name).map(d => d.slice('did:ipid:'.length))]) {
      const response = await fetch(`${url}/routing/v1/ipns/${spelling}`, { headers: { accept: IPNS_RECORD_MEDIA_TYPE } })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe(IPNS_RECORD_MEDIA_TYPE)
      expect(response.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/)
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes)
    }
  })

  it('answers 404 for an unknown name, 400 for a malformed one, 406 for an unacceptable Accept', async () => {
    const { did } = await record(3002, 1n)
    const unknown = await fetch(`${url}/routing/v1/ipns/${parseDid(did).id}`)
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const client = delegatedRoutingV1HttpApiClient({ url })({ logger: defaultLogger() })
    await expect(client.getIPNS(CID.parse(parseDid(did).id))).rejects.toThrow(/No matching records/)

    const malformed = await fetch(`${url}/routing/v1/ipns/not-a-name`)
    expect(malformed.status).toBe(400)
    expect(((await malformed.json()) as { detail: string }).detail).toMatch(/is not an IPNS name of a libp2p key/)
    const text = await fetch(`${url}/routing/v1/ipns/${parseDid(did).id}`, { headers: { accept: 'text/html' } })
    expect(text.status).toBe(406)
  })

  it('refuses an oversized body (413), garbage (400), a forged record (400) and a rollback (409), keeping the held record', async () => {
    const { did, bytes } = await record(3003, 9n)
    const name = parseDid(did)
    expect((await put(name.id, bytes)).status).toBe(200)
    expect((await put(name.id, bytes)).status).toBe(200) // the same record again: unchanged, fine

    expect((await put(name.id, new Uint8Array(MAX_RECORD_BYTES + 1))).status).toBe(413)
    const garbage = await put(name.id, new Uint8Array([1, 2, 3, 4]))
    expect(garbage.status).toBe(400)
    expect(((await garbage.json()) as { reason: string }).reason).toBe('malformed_record')
    // Signed by another key than the one the name names (an Ed25519 name is its key: the signature fails).
    const other = await record(3004, 50n)
    const forged = await put(name.id, other.bytes)
    expect(forged.status).toBe(400)
    expect(((await forged.json()) as { reason: string }).reason).toBe('bad_signature')
    // A valid, lower record of the right key.
    const lower = await createRecord({ privateKey: await seededKey(3003), value, sequence: 8n, validUntilMs: Date.now() + DAY_MS })
    const rollback = await put(name.id, lower.bytes)
    expect(rollback.status).toBe(409)
    expect(((await rollback.json()) as { detail: string }).detail).toMatch(/roll the identity back/)
    expect((await put(name.id, '')).status).toBe(400)

    const response = await fetch(`${url}/routing/v1/ipns/${name.id}`)
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes)
  })
})
