/**
 * The Delegated Routing V1 IPNS endpoints (src/http/routing.ts) on a real HTTP server on 127.0.0.1, over an
 * in-memory context that really validates records and keeps the highest one, exercised with plain fetch and
 * with the official `@helia/delegated-routing-v1-http-api-client`.
 */
import { delegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import { defaultLogger } from '@libp2p/logger'
import express from 'express'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DID_PREFIX, didFromPublicKey, equivalentDids, parseDid } from '../../src/did/identifier.ts'
import {
  IPNS_RECORD_MEDIA_TYPE,
  ROUTING_DEFAULT_MAX_AGE_S,
  ROUTING_NOT_FOUND_MAX_AGE_S,
  routingRouter
} from '../../src/http/routing.ts'
import { MAX_RECORD_BYTES, compareRecords, createRecord, validateRecord } from '../../src/ipns/record.ts'
import { DAY_MS, seededKey } from '../helpers/fixtures.ts'
import type { DelegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import type { IpidName } from '../../src/did/identifier.ts'
import type { ValidatedRecord } from '../../src/ipns/record.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const VALUE = CID.parse('bafyreibzxzgknm7ekxvfra46c3zubvt73sipiokydcgrfcnat3clqdxuhy')

/** What the in-memory context holds, and how it misbehaves for chosen names. */
const held = new Map<string, ValidatedRecord>()
const failing = new Set<string>()
const hanging = new Map<string, (signal: AbortSignal) => void>()
const logged: unknown[] = []
let server: Server
let url: string
let client: DelegatedRoutingV1HttpApiClient

beforeAll(async () => {
  const app = express()
  app.use(routingRouter({
    getRecord: async (name, signal) => {
      if (failing.has(name.id)) throw new Error('database password hunter2 rejected')
      const onHang = hanging.get(name.id)
      if (onHang !== undefined) {
        onHang(signal)
        await new Promise(resolve => signal.addEventListener('abort', resolve, { once: true }))
        throw signal.reason
      }
      return held.get(name.id)?.bytes
    },
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
    },
    logger: { error: (...args: unknown[]) => { logged.push(args) } } as never
  }))
  server = app.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  client = delegatedRoutingV1HttpApiClient({ url, cacheTTL: 0 })({ logger: defaultLogger() })
})

afterAll(async () => {
  await client.stop()
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
})

interface Named {
  name: IpidName
  /** base36 k51…, base32 bafz…, base58btc 12D3KooW… */
  spellings: { base36: string, base32: string, base58btc: string }
  cid: CID
}

async function identity (seed: number): Promise<Named> {
  const key = await seededKey(seed)
  const name = parseDid(didFromPublicKey(key.publicKey))
  const [base32, base58btc] = equivalentDids(name).map(d => d.slice(DID_PREFIX.length)) as [string, string]
  return { name, spellings: { base36: name.id, base32, base58btc }, cid: CID.parse(name.id) }
}

async function recordOf (seed: number, sequence: bigint, options: { ttlMs?: number, validForMs?: number } = {}): Promise<Uint8Array> {
  const created = await createRecord({
    privateKey: await seededKey(seed),
    value: VALUE,
    sequence,
    validUntilMs: Date.now() + (options.validForMs ?? DAY_MS),
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs })
  })
  return created.bytes
}

const get = async (name: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/routing/v1/ipns/${name}`, { headers })

const put = async (name: string, body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/routing/v1/ipns/${name}`, { method: 'PUT', headers: { 'content-type': IPNS_RECORD_MEDIA_TYPE, ...headers }, body })

interface Problem { type: string, title: string, status: number, detail: string, reason?: string }

async function problemOf (response: Response): Promise<Problem> {
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  const body = await response.json() as Problem
  expect(body.status).toBe(response.status)
  expect(body.type).toBe('about:blank')
  expect(typeof body.title).toBe('string')
  expect(typeof body.detail).toBe('string')
  return body
}

const bytesOf = async (response: Response): Promise<Uint8Array> => new Uint8Array(await response.arrayBuffer())

describe('delegated routing V1, IPNS: round trips', () => {
  it('publishes with the official client and reads the same bytes back with it and with fetch, with the spec headers', async () => {
    const id = await identity(4101)
    const bytes = await recordOf(4101, 3n, { ttlMs: 120_000, validForMs: DAY_MS })
    await client.putIPNS(id.cid, bytes)
    expect(held.get(id.name.id)?.sequence).toBe(3n)
    expect(await client.getIPNS(id.cid)).toEqual(bytes)

    const response = await get(id.spellings.base36, { accept: IPNS_RECORD_MEDIA_TYPE })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe(IPNS_RECORD_MEDIA_TYPE)
    expect(await bytesOf(response)).toEqual(bytes)
    // max-age is the record's TTL; stale-* windows are the remaining validity (about a day).
    const cacheControl = response.headers.get('cache-control') ?? ''
    expect(cacheControl).toMatch(/^public, max-age=120, stale-while-revalidate=(\d+), stale-if-error=\1$/)
    const remaining = Number(/stale-while-revalidate=(\d+)/.exec(cacheControl)?.[1])
    expect(remaining).toBeGreaterThan(DAY_MS / 1000 - 60)
    expect(remaining).toBeLessThanOrEqual(DAY_MS / 1000)
    expect(response.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{43}"$/)
    expect(response.headers.get('vary')).toMatch(/Accept/)
    expect(Math.abs(Date.parse(response.headers.get('expires') ?? '') - (Date.now() + DAY_MS))).toBeLessThan(60_000)
    expect(Math.abs(Date.parse(response.headers.get('last-modified') ?? '') - Date.now())).toBeLessThan(60_000)
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('answers every spelling of a name (k51…, bafz…, 12D3KooW…) alike, for GET and PUT', async () => {
    const id = await identity(4102)
    expect(id.spellings.base36).toMatch(/^k51/)
    expect(id.spellings.base32).toMatch(/^bafz/)
    expect(id.spellings.base58btc).toMatch(/^12D3KooW/)
    const first = await recordOf(4102, 1n)
    expect((await put(id.spellings.base58btc, first)).status).toBe(200)
    for (const spelling of Object.values(id.spellings)) {
      const response = await get(spelling)
      expect(response.status).toBe(200)
      expect(await bytesOf(response)).toEqual(first)
    }
    const second = await recordOf(4102, 2n)
    expect((await put(id.spellings.base36, second)).status).toBe(200)
    const third = await recordOf(4102, 3n)
    expect((await put(id.spellings.base32, third)).status).toBe(200)
    for (const spelling of Object.values(id.spellings)) {
      expect(await bytesOf(await get(spelling))).toEqual(third)
    }
    // The client always writes the CID in base32, whatever spelling it was parsed from.
    expect(await client.getIPNS(CID.parse(id.spellings.base36))).toEqual(third)
  })

  it('takes max-age=60 when the record has no TTL, answers HEAD without a body and 304 for a matching If-None-Match', async () => {
    const id = await identity(4103)
    const bytes = await recordOf(4103, 1n, { ttlMs: 0 })
    expect((await put(id.name.id, bytes)).status).toBe(200)
    const response = await get(id.name.id)
    expect(response.headers.get('cache-control')).toMatch(new RegExp(`^public, max-age=${ROUTING_DEFAULT_MAX_AGE_S}, `))
    const etag = response.headers.get('etag') ?? ''
    expect(await bytesOf(response)).toEqual(bytes)

    const head = await fetch(`${url}/routing/v1/ipns/${id.name.id}`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('etag')).toBe(etag)
    expect((await bytesOf(head)).byteLength).toBe(0)

    // fetch adds "Cache-Control: no-cache" to conditional requests unless one is given, and no-cache forbids a 304.
    const cached = await get(id.name.id, { 'if-none-match': etag, 'cache-control': 'max-age=0' })
    expect(cached.status).toBe(304)
    expect((await bytesOf(cached)).byteLength).toBe(0)
    // Another record, another Etag: the cached copy is stale.
    expect((await put(id.name.id, await recordOf(4103, 2n, { ttlMs: 0 }))).status).toBe(200)
    const fresh = await get(id.name.id, { 'if-none-match': etag, 'cache-control': 'max-age=0' })
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('etag')).not.toBe(etag)
  })

  it('never lets max-age run past the record\'s end of validity', async () => {
    const id = await identity(4104)
    const bytes = await recordOf(4104, 1n, { ttlMs: 60 * 60 * 1000, validForMs: 30_000 })
    expect((await put(id.name.id, bytes)).status).toBe(200)
    const maxAge = Number(/max-age=(\d+)/.exec((await get(id.name.id)).headers.get('cache-control') ?? '')?.[1])
    expect(maxAge).toBeGreaterThan(20)
    expect(maxAge).toBeLessThanOrEqual(30)
  })
})

describe('delegated routing V1, IPNS: refusals', () => {
  it('answers 404 for a name with no record, and the client reports it as not found', async () => {
    const id = await identity(4201)
    const response = await get(id.name.id)
    expect(response.status).toBe(404)
    expect(response.headers.get('cache-control')).toBe(`public, max-age=${ROUTING_NOT_FOUND_MAX_AGE_S}`)
    expect((await problemOf(response)).detail).toContain(id.name.id)
    await expect(client.getIPNS(id.cid)).rejects.toMatchObject({ name: 'NotFoundError' })
  })

  it('answers 400 with a reason for a malformed name, on GET and on PUT', async () => {
    const valid = await identity(4202)
    const cases: Array<[string, RegExp]> = [
      ['not-a-name', /only letters and digits/],
      [valid.name.id.slice(0, -4), /not an IPNS name of a libp2p key/],
      ['bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', /not libp2p-key/],
      ['QmNotBase58Really0OIl', /not valid base58btc/],
      ['x'.repeat(200), /longer than/],
      ['zDvZRwzm', /base36 \(k…\), base32 \(b…\) or a base58btc peer id/]
    ]
    for (const [name, detail] of cases) {
      const response = await get(name)
      expect(response.status, name).toBe(400)
      expect((await problemOf(response)).detail).toMatch(detail)
    }
    const onPut = await put('not-a-name', await recordOf(4202, 1n))
    expect(onPut.status).toBe(400)
    expect((await problemOf(onPut)).reason).toBe('malformed_id')
  })

  it('answers 406 unless Accept allows the record type, and takes */*, application/* or no Accept', async () => {
    const id = await identity(4203)
    expect((await put(id.name.id, await recordOf(4203, 1n))).status).toBe(200)
    for (const accept of ['text/html', 'application/json', `${IPNS_RECORD_MEDIA_TYPE};q=0`, 'text/*']) {
      const response = await get(id.name.id, { accept })
      expect(response.status, accept).toBe(406)
      expect((await problemOf(response)).detail).toContain(`Accept: ${IPNS_RECORD_MEDIA_TYPE}`)
    }
    for (const accept of ['*/*', 'application/*', IPNS_RECORD_MEDIA_TYPE, `text/html, ${IPNS_RECORD_MEDIA_TYPE};q=0.5`]) {
      const response = await get(id.name.id, { accept })
      expect(response.status, accept).toBe(200)
      expect(response.headers.get('content-type')).toBe(IPNS_RECORD_MEDIA_TYPE)
    }
    // fetch sends "*/*" unless told otherwise; a raw request with no Accept header at all is fine too.
    const { request } = await import('node:http')
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${url}/routing/v1/ipns/${id.name.id}`, res => { res.resume(); resolve(res.statusCode) }).on('error', reject).end()
    })
    expect(status).toBe(200)
  })

  it('answers 406 to a PUT of another Content-Type, and holds nothing', async () => {
    const id = await identity(4204)
    const response = await put(id.name.id, await recordOf(4204, 1n), { 'content-type': 'application/json' })
    expect(response.status).toBe(406)
    expect((await problemOf(response)).detail).toContain(`Content-Type: ${IPNS_RECORD_MEDIA_TYPE}`)
    expect(held.has(id.name.id)).toBe(false)
  })

  it('answers 413 to a body over MAX_RECORD_BYTES, declared or streamed, and accepts to read one of exactly that size', async () => {
    const id = await identity(4205)
    const good = await recordOf(4205, 5n)
    expect((await put(id.name.id, good)).status).toBe(200)

    const declared = await put(id.name.id, new Uint8Array(MAX_RECORD_BYTES + 1))
    expect(declared.status).toBe(413)
    expect((await problemOf(declared)).detail).toContain(String(MAX_RECORD_BYTES))

    // Chunked, no Content-Length: refused once the limit is passed.
    const chunk = new Uint8Array(4096)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull (controller) {
        if (sent > 2 * MAX_RECORD_BYTES) {
          controller.close()
          return
        }
        sent += chunk.byteLength
        controller.enqueue(chunk)
      }
    })
    const streamed = await fetch(`${url}/routing/v1/ipns/${id.name.id}`, {
      method: 'PUT', headers: { 'content-type': IPNS_RECORD_MEDIA_TYPE }, body: stream, duplex: 'half'
    } as RequestInit)
    expect(streamed.status).toBe(413)

    // Exactly the limit is read (and then refused for what it is: not a record).
    const atLimit = await put(id.name.id, new Uint8Array(MAX_RECORD_BYTES))
    expect(atLimit.status).toBe(400)
    expect((await problemOf(atLimit)).reason).toBe('malformed_record')
    expect(await bytesOf(await get(id.name.id))).toEqual(good)
  })

  it('answers 400 to garbage, to an empty body and to a record signed by another key, with fetch and with the client', async () => {
    const id = await identity(4206)
    const garbage = await put(id.name.id, new Uint8Array([1, 2, 3, 4]))
    expect(garbage.status).toBe(400)
    const garbageProblem = await problemOf(garbage)
    expect(garbageProblem.reason).toBe('malformed_record')
    expect(garbageProblem.detail).toMatch(/^invalid IPNS record: /)

    const empty = await put(id.name.id, new Uint8Array(0))
    expect(empty.status).toBe(400)
    expect((await problemOf(empty)).reason).toBe('empty_body')

    // A valid record of another key, offered under this name: an Ed25519 name is its key, the signature fails.
    const forgedBytes = await recordOf(4299, 50n)
    const forged = await put(id.name.id, forgedBytes)
    expect(forged.status).toBe(400)
    expect((await problemOf(forged)).reason).toBe('bad_signature')
    await expect(client.putIPNS(id.cid, forgedBytes)).rejects.toMatchObject({ name: 'BadResponseError' })
    await expect(client.putIPNS(id.cid, new Uint8Array([9, 9, 9]))).rejects.toMatchObject({ name: 'BadResponseError' })
    expect(held.has(id.name.id)).toBe(false)
    expect((await get(id.name.id)).status).toBe(404)
  })

  it('answers 409 to a lower sequence after a higher one and keeps the higher record; the same record again is fine', async () => {
    const id = await identity(4207)
    const higher = await recordOf(4207, 9n)
    const lower = await recordOf(4207, 8n)
    expect((await put(id.name.id, higher)).status).toBe(200)
    expect((await put(id.name.id, higher)).status).toBe(200)

    const rollback = await put(id.name.id, lower)
    expect(rollback.status).toBe(409)
    expect((await problemOf(rollback)).detail).toMatch(/roll the identity back or fork it/)
    await expect(client.putIPNS(id.cid, lower)).rejects.toMatchObject({ name: 'BadResponseError' })

    expect(held.get(id.name.id)?.sequence).toBe(9n)
    expect(await bytesOf(await get(id.name.id))).toEqual(higher)
    expect(await client.getIPNS(id.cid)).toEqual(higher)
  })
})

describe('delegated routing V1, IPNS: failures, cancellation, other methods', () => {
  it('answers 500 without internal details when the context fails, and logs the failure', async () => {
    const id = await identity(4301)
    failing.add(id.name.id)
    const before = logged.length
    const response = await get(id.name.id)
    expect(response.status).toBe(500)
    const text = await response.text()
    expect(text).not.toContain('hunter2')
    expect(JSON.parse(text)).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'internal error' })
    expect(logged.length).toBe(before + 1)
    await expect(client.getIPNS(id.cid)).rejects.toMatchObject({ name: 'BadResponseError' })
  })

  it('aborts the signal given to the context when the client goes away', async () => {
    const id = await identity(4302)
    const seen = Promise.withResolvers<AbortSignal>()
    hanging.set(id.name.id, signal => { seen.resolve(signal) })
    const controller = new AbortController()
    const request = fetch(`${url}/routing/v1/ipns/${id.name.id}`, { signal: controller.signal })
    const signal = await seen.promise
    expect(signal.aborted).toBe(false)
    controller.abort()
    await expect(request).rejects.toThrow()
    await new Promise<void>(resolve => {
      if (signal.aborted) resolve()
      else signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
    expect(signal.aborted).toBe(true)
  })

  it('answers a CORS preflight, and 501 to a method it does not support', async () => {
    const id = await identity(4303)
    const preflight = await fetch(`${url}/routing/v1/ipns/${id.name.id}`, {
      method: 'OPTIONS', headers: { origin: 'https://example.org', 'access-control-request-method': 'PUT' }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/GET.*PUT/)
    const deleted = await fetch(`${url}/routing/v1/ipns/${id.name.id}`, { method: 'DELETE' })
    expect(deleted.status).toBe(501)
    expect(deleted.headers.get('allow')).toMatch(/GET/)
    await problemOf(deleted)
  })
})
