/**
 * The DID resolution HTTP API over a real HTTP server on 127.0.0.1, in front of a real Resolver over two real
 * embedded nodes: A publishes, C resolves. Requests are shaped as the Universal Resolver's HTTP driver and the
 * W3C DID Resolution HTTP(S) binding send them.
 */
import { request as httpRequest } from 'node:http'
import { Writable } from 'node:stream'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import { equivalentDids, parseDid } from '../../src/did/identifier.ts'
import { formatTime } from '../../src/did/time.ts'
import { InvalidDocumentError } from '../../src/errors.ts'
import {
  DID_DOCUMENT_MEDIA_TYPES, DID_ERROR_TYPE_BASE, DID_RESOLUTION_CONTEXT, DID_RESOLUTION_MEDIA_TYPE,
  LEGACY_DID_RESOLUTION_MEDIA_TYPE, MAX_POST_BODY_BYTES, fromWireResult, negotiate, resolutionRouter, statusOf, toWireResult
} from '../../src/http/resolution.ts'
import { Resolver, errorResult } from '../../src/resolver/resolver.ts'
import { createApp } from '../../src/http/app.ts'
import { DEFAULT_HTTP_LIMITS } from '../../src/http/protect.ts'
import { createAccessLogger, createLogger } from '../../src/log.ts'
import { HOUR_MS, buildChain, documentWithAuthKey, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import type { ResolutionContext } from '../../src/http/resolution.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { DidResolutionResult } from '../../src/resolver/resolver.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the Universal Resolver's HTTP driver sends today: the result type first, then the client's `accept` option. */
const UR_ACCEPT = `${DID_RESOLUTION_MEDIA_TYPE},application/did`
/** What Universal Resolver releases before the CR media type sent. */
const UR_LEGACY_ACCEPT = `${LEGACY_DID_RESOLUTION_MEDIA_TYPE},application/did+ld+json`
const WHOLE_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
const DID_KEY = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'

interface Served { url: string, server: Server }
interface Wire { didDocument: Record<string, unknown> | null, didResolutionMetadata: Record<string, unknown>, didDocumentMetadata: Record<string, unknown>, '@context'?: unknown }
interface Problem { type: string, title: string, detail: string, reason?: string }

let a: EmbeddedNode
let c: EmbeddedNode
let resolver: Resolver
let main: Served
let failing: Served
let tuned: Served
/** Metadata the `tuned` server's context adds to every result (record TTL, stale flag). */
let extraMetadata: Record<string, unknown> = {}
let live: { did: string, v1: DecodedVersionNode, v2: DecodedVersionNode }
let dead: { did: string, v2: DecodedVersionNode }
let unpublished: string

async function serve (ctx: ResolutionContext): Promise<Served> {
  const app = express()
  app.use(resolutionRouter(ctx))
  const server = app.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  resolver = new Resolver({ backend: c, deadlineMs: 2000 })

  const liveId = await testIdentity(7100)
  const [v1, v2] = await buildChain(liveId, 2, Math.floor((Date.now() - 3 * HOUR_MS) / 1000) * 1000) as [DecodedVersionNode, DecodedVersionNode]
  await a.putBlock(v1.cid, v1.bytes)
  await publishVersion(a, liveId.root, v2)
  live = { did: liveId.did, v1, v2 }

  const deadId = await testIdentity(7110)
  const d1 = await createFirstVersion({ document: documentWithAuthKey(deadId.did, deadId.auth[0]!), updateKeys: [multikeyOf(deadId.update[0]!)] }, deadId.root, Date.now() - HOUR_MS)
  const d2 = await createNextVersion(d1, { deactivate: true }, deadId.update[0]!, Date.now())
  await a.putBlock(d1.cid, d1.bytes)
  await publishVersion(a, deadId.root, d2)
  dead = { did: deadId.did, v2: d2 }

  unpublished = (await testIdentity(7120)).did

  main = await serve({ resolve: async (did, options) => resolver.resolve(did, options), testIdentifiers: () => [live.did, dead.did] })
  failing = await serve({ resolve: async () => { throw new Error('boom') }, testIdentifiers: () => [] })
  tuned = await serve({
    resolve: async (did, options) => {
      const result = await resolver.resolve(did, options)
      return { ...result, didResolutionMetadata: { ...result.didResolutionMetadata, ...extraMetadata } }
    },
    testIdentifiers: () => []
  })
})

afterAll(async () => {
  for (const s of [main, failing, tuned]) if (s !== undefined) await new Promise(resolve => s.server.close(resolve))
  resolver?.stop()
  await stopAll([a, c].filter(n => n !== undefined))
})

const identifier = (didUrl: string): string => `/1.0/identifiers/${encodeURIComponent(didUrl)}`
const get = async (path: string, accept?: string, headers: Record<string, string> = {}, base = main.url): Promise<Response> =>
  fetch(base + path, { headers: { ...(accept === undefined ? {} : { accept }), ...headers } })
const post = async (path: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(main.url + path, { method: 'POST', headers: { 'content-type': 'application/json', accept: DID_RESOLUTION_MEDIA_TYPE, ...headers }, body })
const wire = async (response: Response): Promise<Wire> => await response.json() as Wire
const problemOf = (body: Wire): Problem => body.didResolutionMetadata.error as Problem

/** An error answer: the whole result, a problem object of the given type, nothing cacheable. */
async function expectError (response: Response, status: number, type: string, reason?: string, contentType = DID_RESOLUTION_MEDIA_TYPE): Promise<Problem> {
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toBe(contentType)
  expect(response.headers.get('cache-control')).toBe('no-store')
  const body = await wire(response)
  expect(body.didDocument).toBeNull()
  expect(body.didDocumentMetadata).toEqual({})
  const problem = problemOf(body)
  expect(problem).toMatchObject({ type: DID_ERROR_TYPE_BASE + type, title: expect.any(String), detail: expect.any(String) })
  if (reason !== undefined) expect(problem.reason).toBe(reason)
  // ipidd's reason and message live in the problem object, not beside it.
  expect(body.didResolutionMetadata.reason).toBeUndefined()
  expect(body.didResolutionMetadata.message).toBeUndefined()
  return problem
}

describe('the Universal Resolver driver request', () => {
  it('200: the whole result for the current and the legacy Accept, the DID encoded or not', async () => {
    for (const path of [identifier(live.did), `/1.0/identifiers/${live.did}`]) {
      const response = await get(path, UR_ACCEPT)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe(DID_RESOLUTION_MEDIA_TYPE)
      const body = await wire(response)
      expect(body.didDocument).toEqual(live.v2.node.document)
      expect(body.didDocumentMetadata).toMatchObject({ versionId: live.v2.cid.toString(), deactivated: false, canonicalId: live.did })
      expect(body.didResolutionMetadata).toMatchObject({ contentType: 'application/did+ld+json', stale: false })
      expect(body['@context']).toBeUndefined()
    }
    const head = await fetch(main.url + identifier(live.did), { method: 'HEAD', headers: { accept: UR_ACCEPT } })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0)
    expect(await head.text()).toBe('')

    const legacy = await get(identifier(live.did), UR_LEGACY_ACCEPT)
    expect(legacy.status).toBe(200)
    expect(legacy.headers.get('content-type')).toBe(LEGACY_DID_RESOLUTION_MEDIA_TYPE)
    const body = await wire(legacy)
    expect(body['@context']).toBe(DID_RESOLUTION_CONTEXT)
    expect(body.didDocument).toEqual(live.v2.node.document)
  })

  it('400 for an invalid DID, 404 for an unpublished one, 406 for an unservable Accept, 501 for another method', async () => {
    await expectError(await get(identifier('did:ipid:nope!'), UR_ACCEPT), 400, 'INVALID_DID', 'malformed_id')
    await expectError(await get(identifier('not-a-did'), UR_ACCEPT), 400, 'INVALID_DID', 'not_a_did')
    await expectError(await get('/1.0/identifiers/did%3Aipid%3A%ZZ', UR_ACCEPT), 400, 'INVALID_DID', 'malformed_encoding')
    const notFound = await expectError(await get(identifier(unpublished), UR_ACCEPT), 404, 'NOT_FOUND', 'no_record')
    expect(notFound.title).toBe('DID not found')
    await expectError(await get(identifier(live.did), 'application/did+cbor'), 406, 'REPRESENTATION_NOT_SUPPORTED', 'representation_not_supported')
    await expectError(await get(identifier(DID_KEY), UR_ACCEPT), 501, 'METHOD_NOT_SUPPORTED', 'method_not_supported')
    // The legacy driver gets its own type back, errors included.
    await expectError(await get(`/1.0/identifiers/${DID_KEY}`, UR_LEGACY_ACCEPT), 501, 'METHOD_NOT_SUPPORTED', 'method_not_supported', LEGACY_DID_RESOLUTION_MEDIA_TYPE)
  })

  it('410 for a deactivated DID: the whole result or the deactivated document, per Accept', async () => {
    const whole = await get(identifier(dead.did), UR_ACCEPT)
    expect(whole.status).toBe(410)
    expect(whole.headers.get('content-type')).toBe(DID_RESOLUTION_MEDIA_TYPE)
    const body = await wire(whole)
    expect(body.didDocumentMetadata).toMatchObject({ deactivated: true, versionId: dead.v2.cid.toString() })
    expect(body.didResolutionMetadata.error).toBeUndefined()

    const document = await get(identifier(dead.did), 'application/did+ld+json')
    expect(document.status).toBe(410)
    expect(document.headers.get('content-type')).toBe('application/did+ld+json')
    const doc = await document.json() as Record<string, unknown>
    expect(doc).toEqual(dead.v2.node.document)
    expect(doc.verificationMethod).toBeUndefined()
  })

  it('500 when the resolver throws, and for an invalid DID document', async () => {
    await expectError(await get(identifier(live.did), UR_ACCEPT, {}, failing.url), 500, 'INTERNAL_ERROR', 'internal_error')
    const broken = await serve({ resolve: async () => errorResult(new InvalidDocumentError('malformed_document', 'the document is not an object')), testIdentifiers: () => [] })
    try {
      await expectError(await get(identifier(live.did), UR_ACCEPT, {}, broken.url), 500, 'INVALID_DID_DOCUMENT', 'malformed_document')
    } finally {
      await new Promise(resolve => broken.server.close(resolve))
    }
  })
})

describe('Accept negotiation', () => {
  it('serves the document alone under every document media type, with that Content-Type', async () => {
    for (const type of DID_DOCUMENT_MEDIA_TYPES) {
      const response = await get(identifier(live.did), type)
      expect(response.status, type).toBe(200)
      expect(response.headers.get('content-type')).toBe(type)
      expect(response.headers.get('vary')).toMatch(/accept/i)
      expect(await response.json()).toEqual(live.v2.node.document)
    }
  })

  it('serves the whole result for application/did-resolution, */*, application/* and no Accept at all', async () => {
    for (const accept of [DID_RESOLUTION_MEDIA_TYPE, '*/*', 'application/*', `${DID_RESOLUTION_MEDIA_TYPE}; charset=utf-8`]) {
      const response = await get(identifier(live.did), accept)
      expect(response.headers.get('content-type'), accept).toBe(DID_RESOLUTION_MEDIA_TYPE)
      expect((await wire(response)).didDocumentMetadata.versionId).toBe(live.v2.cid.toString())
    }
    // fetch always sends an Accept header; node:http sends none unless told.
    const { status, headers, body } = await new Promise<{ status: number, headers: Record<string, unknown>, body: string }>((resolve, reject) => {
      httpRequest(main.url + identifier(live.did), response => {
        let text = ''
        response.setEncoding('utf8').on('data', chunk => { text += chunk }).on('end', () => { resolve({ status: response.statusCode!, headers: response.headers, body: text }) })
      }).on('error', reject).end()
    })
    expect(status).toBe(200)
    expect(headers['content-type']).toBe(DID_RESOLUTION_MEDIA_TYPE)
    expect((JSON.parse(body) as Wire).didDocument).toEqual(live.v2.node.document)
  })

  it('honours q-values: highest wins, ties go to the type written first, the most specific range sets the weight', async () => {
    const cases: Array<[string, string]> = [
      [`${DID_RESOLUTION_MEDIA_TYPE};q=0.5, application/did+json;q=0.9`, 'application/did+json'],
      ['application/did+json, application/did', 'application/did+json'],
      ['application/did, application/did+json', 'application/did'],
      ['*/*;q=0.1, application/did+ld+json', 'application/did+ld+json'],
      [`${DID_RESOLUTION_MEDIA_TYPE};q=0, */*`, 'application/did'],
      ['text/html, application/json;q=0.2', 'application/json'],
      ['application/ld+json', 'application/ld+json'],
      [`application/ld+json;q=0.5, ${LEGACY_DID_RESOLUTION_MEDIA_TYPE}`, LEGACY_DID_RESOLUTION_MEDIA_TYPE],
      [`application/did+json;q=0.8, application/did-resolution;q=0.8`, 'application/did+json']
    ]
    for (const [accept, expected] of cases) {
      const response = await get(identifier(live.did), accept)
      expect(response.status, accept).toBe(200)
      expect(response.headers.get('content-type'), accept).toBe(expected)
    }
    // The same choices without a server: the negotiation is a pure function.
    expect(negotiate('application/did;q=0.3, application/did+json;q=0.31')?.mediaType).toBe('application/did+json')
    expect(negotiate(undefined)?.mediaType).toBe(DID_RESOLUTION_MEDIA_TYPE)
    expect(negotiate('application/did+json;q=0')).toBeUndefined()
    expect(negotiate('text/html, image/*')).toBeUndefined()
  })

  it('406 when nothing acceptable is served, with the whole result saying so', async () => {
    for (const accept of ['text/html', 'application/did+json;q=0', 'application/did+cbor, image/png']) {
      const problem = await expectError(await get(identifier(live.did), accept), 406, 'REPRESENTATION_NOT_SUPPORTED')
      expect(problem.detail).toContain(DID_RESOLUTION_MEDIA_TYPE)
    }
  })
})

describe('DID URLs and resolution options', () => {
  it('versionId and versionTime in the encoded DID URL, as query parameters, and in an unencoded DID URL', async () => {
    const v1 = live.v1.cid.toString()
    const betweenVersions = formatTime(live.v1.createdMs + HOUR_MS / 2)
    const paths = [
      identifier(`${live.did}?versionId=${v1}`),
      identifier(`${live.did}?versionTime=${betweenVersions}`),
      `${identifier(live.did)}?versionId=${v1}`,
      `${identifier(live.did)}?versionTime=${encodeURIComponent(betweenVersions)}`,
      `/1.0/identifiers/${live.did}?versionId=${v1}`,
      `${identifier(`${live.did}?versionId=${v1}`)}?versionId=${v1}&noCache=false`
    ]
    for (const path of paths) {
      const response = await get(path, UR_ACCEPT)
      expect(response.status, path).toBe(200)
      const body = await wire(response)
      expect(body.didDocument).toEqual(live.v1.node.document)
      expect(body.didDocumentMetadata).toMatchObject({ versionId: v1, nextVersionId: live.v2.cid.toString(), nextUpdate: live.v2.node.updated })
    }
  })

  it('noCache=true asks the network and answers with max-age=0', async () => {
    const response = await get(`${identifier(live.did)}?noCache=true`, UR_ACCEPT)
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('public, max-age=0')
    expect((await wire(response)).didResolutionMetadata.source).toBe('network')
  })

  it('refuses malformed options (400), unsupported options and dereferencing (501), repeated parameters (400)', async () => {
    const v1 = live.v1.cid.toString()
    await expectError(await get(`${identifier(live.did)}?noCache=yes`, UR_ACCEPT), 400, 'INVALID_OPTIONS', 'malformed_option')
    await expectError(await get(`${identifier(live.did)}?versionId=not-a-cid`, UR_ACCEPT), 400, 'INVALID_OPTIONS', 'malformed_option')
    await expectError(await get(`${identifier(live.did)}?versionId=${v1}&versionTime=2026-01-01T00:00:00Z`, UR_ACCEPT), 400, 'INVALID_OPTIONS')
    await expectError(await get(`${identifier(live.did)}?versionId=${v1}&versionId=${v1}`, UR_ACCEPT), 400, 'INVALID_OPTIONS', 'duplicate_option')
    await expectError(await get(identifier(`${live.did}?versionId=${v1}&versionId=${v1}`), UR_ACCEPT), 400, 'INVALID_DID_URL', 'duplicate_parameter')
    await expectError(await get(`${identifier(`${live.did}?versionId=${v1}`)}?versionId=${live.v2.cid.toString()}`, UR_ACCEPT), 400, 'INVALID_OPTIONS')
    await expectError(await get(identifier(`${live.did}?versionId=a b`), UR_ACCEPT), 400, 'INVALID_DID_URL', 'malformed_query')
    await expectError(await get(`${identifier(live.did)}?foo=bar`, UR_ACCEPT), 501, 'FEATURE_NOT_SUPPORTED', 'unsupported_option')
    await expectError(await get(identifier(`${live.did}?service=files&relativeRef=%2Fa`), UR_ACCEPT), 501, 'FEATURE_NOT_SUPPORTED', 'unsupported_did_parameter')
    await expectError(await get(identifier(`${live.did}#auth-1`), UR_ACCEPT), 501, 'FEATURE_NOT_SUPPORTED', 'dereferencing_not_supported')
    await expectError(await get(identifier(`${live.did}/path`), UR_ACCEPT), 501, 'FEATURE_NOT_SUPPORTED', 'dereferencing_not_supported')
    // expandRelativeUrls is accepted: every ipidd document already holds absolute DID URLs only.
    const expanded = await get(`${identifier(live.did)}?expandRelativeUrls=true`, 'application/did')
    expect(expanded.status).toBe(200)
    expect(await expanded.json()).toEqual(live.v2.node.document)
  })
})

describe('POST', () => {
  it('takes the options as a JSON body on the DID\'s URL', async () => {
    const old = await post(identifier(live.did), JSON.stringify({ versionId: live.v1.cid.toString() }))
    expect(old.status).toBe(200)
    expect(old.headers.get('cache-control')).toBe('no-store')
    expect((await wire(old)).didDocument).toEqual(live.v1.node.document)

    const fresh = await post(`/1.0/identifiers/${live.did}`, JSON.stringify({ noCache: true }), { accept: 'application/did+json' })
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('content-type')).toBe('application/did+json')
    expect(await fresh.json()).toEqual(live.v2.node.document)

    // The query of a POST's URL is the DID URL's own (the binding's POST example), options stay in the body.
    const inUrl = await post(`/1.0/identifiers/${live.did}?versionTime=${formatTime(live.v1.createdMs)}`, '{}')
    expect((await wire(inUrl)).didDocumentMetadata.versionId).toBe(live.v1.cid.toString())

    const empty = await fetch(main.url + identifier(dead.did), { method: 'POST', headers: { accept: DID_RESOLUTION_MEDIA_TYPE } })
    expect(empty.status).toBe(410)
  })

  it('refuses bodies that are not a small JSON object of known options', async () => {
    await expectError(await post(identifier(live.did), '{"versionId": '), 400, 'INVALID_OPTIONS', 'malformed_body')
    await expectError(await post(identifier(live.did), '["versionId"]'), 400, 'INVALID_OPTIONS', 'malformed_body')
    await expectError(await post(identifier(live.did), '{"versionId": 7}'), 400, 'INVALID_OPTIONS', 'malformed_option')
    await expectError(await post(identifier(live.did), '{"noCache": true}', { 'content-type': 'text/plain' }), 400, 'INVALID_OPTIONS', 'malformed_body')
    await expectError(await post(identifier(live.did), '{"depth": 2}'), 501, 'FEATURE_NOT_SUPPORTED', 'unsupported_option')
    const large = JSON.stringify({ versionId: 'b'.repeat(MAX_POST_BODY_BYTES) })
    await expectError(await post(identifier(live.did), large), 413, 'INVALID_OPTIONS', 'malformed_body')
  })
})

describe('caching', () => {
  it('ETag per version and representation; If-None-Match answers 304 without a body', async () => {
    const document = await get(identifier(live.did), 'application/did+ld+json')
    const etag = document.headers.get('etag')!
    expect(etag).toMatch(new RegExp(`^"${live.v2.cid.toString()}\\.did\\+ld\\+json\\.[A-Za-z0-9_-]+"$`))
    // The record's TTL (5 minutes) less the time since it was retrieved.
    expect(document.headers.get('cache-control')).toMatch(/^public, max-age=(29\d|300)$/)

    const again = await get(identifier(live.did), 'application/did+ld+json', { 'if-none-match': etag })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')
    expect(again.headers.get('etag')).toBe(etag)
    expect(again.headers.get('cache-control')).toMatch(/^public, max-age=(29\d|300)$/)

    // Another representation of the same version has another tag; the whole result's is weak.
    const whole = await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE)
    const weak = whole.headers.get('etag')!
    expect(weak).toMatch(/^W\/"/)
    expect(weak).toContain(live.v2.cid.toString())
    expect(weak).not.toBe(etag)
    expect((await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE, { 'if-none-match': `"other", ${weak}` })).status).toBe(304)
    expect((await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE, { 'if-none-match': '*' })).status).toBe(304)
    expect((await get(identifier(live.did), 'application/did+ld+json', { 'if-none-match': weak })).status).toBe(200)

    // An older version is another resource with its own tag.
    const old = await get(`${identifier(live.did)}?versionId=${live.v1.cid.toString()}`, 'application/did+ld+json')
    expect(old.headers.get('etag')).toContain(live.v1.cid.toString())

    // A 410 ignores preconditions (RFC 9110 §13.2.1).
    const deactivated = await get(identifier(dead.did), 'application/did')
    const deadTag = deactivated.headers.get('etag')!
    expect(deadTag).toContain(dead.v2.cid.toString())
    expect((await get(identifier(dead.did), 'application/did', { 'if-none-match': deadTag })).status).toBe(410)
  })

  it('max-age follows the record TTL when the result carries it; stale answers are not stored', async () => {
    extraMetadata = { recordTtl: 30, retrieved: formatTime(Date.now()) }
    const withTtl = await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE, {}, tuned.url)
    const maxAge = Number(/^public, max-age=(\d+)$/.exec(withTtl.headers.get('cache-control') ?? '')?.[1])
    expect(maxAge).toBeGreaterThanOrEqual(28)
    expect(maxAge).toBeLessThanOrEqual(30)

    extraMetadata = { recordTtl: 30, retrieved: formatTime(Date.now() - HOUR_MS) }
    expect((await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE, {}, tuned.url)).headers.get('cache-control')).toBe('public, max-age=0')

    extraMetadata = { stale: true }
    const stale = await get(identifier(live.did), 'application/did', {}, tuned.url)
    expect(stale.status).toBe(200)
    expect(stale.headers.get('cache-control')).toBe('no-store')
    extraMetadata = {}
  })
})

describe('Universal Resolver listing endpoints', () => {
  it('/1.0/methods lists ipid; /1.0/testIdentifiers groups the daemon\'s DIDs by method', async () => {
    const methods = await get('/1.0/methods')
    expect(methods.status).toBe(200)
    expect(methods.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await methods.json()).toEqual(['ipid'])
    const ids = await get('/1.0/testIdentifiers')
    expect(ids.status).toBe(200)
    expect(await ids.json()).toEqual({ ipid: [live.did, dead.did] })
  })
})

describe('DID Core / DID Resolution rules for the JSON served', () => {
  /** Every string in the metadata that looks like a date must be whole-second UTC. */
  function datetimesIn (value: unknown, found: string[] = []): string[] {
    if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) found.push(value)
    else if (Array.isArray(value)) for (const item of value) datetimesIn(item, found)
    else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) datetimesIn(item, found)
    return found
  }

  it('valid, deactivated, not-found and invalid DIDs', async () => {
    const answers: Array<[string, string, number]> = [[live.did, 'valid', 200], [dead.did, 'deactivated', 410], [unpublished, 'not found', 404], ['did:ipid:QmNope', 'invalid', 400]]
    for (const [did, what, status] of answers) {
      const response = await get(identifier(did), DID_RESOLUTION_MEDIA_TYPE)
      expect(response.status, what).toBe(status)
      const body = await wire(response)
      expect(Object.keys(body).sort(), what).toEqual(['didDocument', 'didDocumentMetadata', 'didResolutionMetadata'])
      for (const time of datetimesIn([body.didResolutionMetadata, body.didDocumentMetadata])) expect(time, what).toMatch(WHOLE_SECONDS)

      const error = body.didResolutionMetadata.error
      if (error === undefined) {
        // A successful result: a document, its contentType, deactivated a boolean, equivalent DIDs of this method.
        expect(body.didDocument, what).not.toBeNull()
        expect(body.didResolutionMetadata.contentType, what).toBe('application/did+ld+json')
        expect(typeof body.didDocumentMetadata.deactivated, what).toBe('boolean')
        expect(body.didDocumentMetadata.deactivated, what).toBe(status === 410)
        const equivalent = body.didDocumentMetadata.equivalentId as string[]
        expect(Array.isArray(equivalent), what).toBe(true)
        expect(equivalent, what).toEqual(equivalentDids(parseDid(did)))
        for (const other of equivalent) expect(other, what).toMatch(/^did:ipid:[A-Za-z0-9]+$/)
        expect(body.didDocumentMetadata.canonicalId, what).toBe(parseDid(did).did)
        expect((body.didDocument as { id: string }).id, what).toBe(parseDid(did).did)
        for (const key of ['created', 'updated']) expect(body.didDocumentMetadata[key], `${what} ${key}`).toMatch(WHOLE_SECONDS)
      } else {
        // A failed result: no document, empty document metadata, no contentType, an RFC 9457 problem.
        expect(body.didDocument, what).toBeNull()
        expect(body.didDocumentMetadata, what).toEqual({})
        expect(body.didResolutionMetadata.contentType, what).toBeUndefined()
        expect(error, what).toMatchObject({ type: expect.stringMatching(/^https:\/\/www\.w3\.org\/ns\/did#[A-Z_]+$/), title: expect.any(String), detail: expect.any(String), reason: expect.any(String) })
      }
    }
  })
})

describe('the hot path (the front answers warm GETs itself)', () => {
  /** The whole app, as the daemon builds it; lines of the access log collected. */
  async function serveApp (lines: Array<Record<string, unknown>>, limits = DEFAULT_HTTP_LIMITS): Promise<Served> {
    const sink = new Writable({ write (chunk: Buffer, _encoding, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); done() } })
    const app = createApp({ startedAtMs: Date.now(), now: Date.now, resolver, logger: createLogger('silent'), accessLogger: createAccessLogger('info', sink), limits })
    const server = app.listen(0, '127.0.0.1')
    await new Promise(resolve => server.once('listening', resolve))
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
  }
  /** Status, headers (without the two that differ between any two answers) and body. */
  const answerOf = async (response: Response): Promise<{ status: number, headers: Record<string, string>, body: string }> => {
    const headers = Object.fromEntries([...response.headers].filter(([name]) => name !== 'date' && name !== 'x-request-id'))
    return { status: response.status, headers, body: await response.text() }
  }

  it('answers exactly as the router does, for every Accept, conditional request and outcome', async () => {
    const lines: Array<Record<string, unknown>> = []
    const app = await serveApp(lines)
    try {
      const etag = (await get(identifier(live.did), DID_RESOLUTION_MEDIA_TYPE, {}, app.url)).headers.get('etag')!
      const cases: Array<[string, string | undefined, Record<string, string>]> = [
        [live.did, UR_ACCEPT, {}],
        [live.did, UR_LEGACY_ACCEPT, {}],
        [live.did, undefined, {}],
        [live.did, 'application/did+json', {}],
        [live.did, 'application/did;q=0.5, application/json', {}],
        [live.did, 'text/html', {}],
        [live.did, DID_RESOLUTION_MEDIA_TYPE, { 'if-none-match': etag }],
        [live.did, DID_RESOLUTION_MEDIA_TYPE, { 'if-none-match': '"other"' }],
        [dead.did, UR_ACCEPT, {}],
        [dead.did, 'application/did+json', {}],
        [unpublished, UR_ACCEPT, {}],
        ['did:ipid:notbase36!', UR_ACCEPT, {}],
        [DID_KEY, UR_ACCEPT, {}]
      ]
      for (const [did, accept, headers] of cases) {
        // Express routes ignore case, the front's hot path does not: the second path goes through the router.
        const hot = await answerOf(await get(`/1.0/identifiers/${encodeURIComponent(did)}`, accept, headers, app.url))
        const routed = await answerOf(await get(`/1.0/Identifiers/${encodeURIComponent(did)}`, accept, headers, app.url))
        if (!/max-age=0\b/.test(routed.headers['cache-control'] ?? '')) {
          // max-age counts down by the second: allow the two answers to straddle a second.
          const age = (h: Record<string, string>): number => Number(/max-age=(\d+)/.exec(h['cache-control'] ?? '')?.[1] ?? 0)
          expect(Math.abs(age(hot.headers) - age(routed.headers))).toBeLessThanOrEqual(1)
          hot.headers['cache-control'] = routed.headers['cache-control'] ?? ''
        }
        expect({ did, accept, ...hot }).toEqual({ did, accept, ...routed })
      }
      expect(cases.map(([did]) => did)).toContain(live.did)
      // Every request has its line, the hot ones included, with the status it got.
      const hotLines = lines.filter(l => String(l.path).startsWith('/1.0/identifiers/'))
      expect(hotLines.map(l => l.status)).toEqual([200, 200, 200, 200, 200, 200, 406, 304, 200, 410, 410, 404, 400, 501])
      expect(hotLines.every(l => typeof l.reqId === 'string' && typeof l.durationMs === 'number' && l.msg === 'request')).toBe(true)
    } finally {
      await new Promise(resolve => app.server.close(resolve))
    }
  })

  it('keeps the client\'s request id, and is rate limited like every other request', async () => {
    const lines: Array<Record<string, unknown>> = []
    const app = await serveApp(lines, { ...DEFAULT_HTTP_LIMITS, rateLimit: { ...DEFAULT_HTTP_LIMITS.rateLimit, burst: 2, requestsPerWindow: 1, windowMs: 60_000 } })
    try {
      const path = identifier(live.did)
      const first = await get(path, UR_ACCEPT, { 'x-request-id': 'trace-1' }, app.url)
      expect(first.status).toBe(200)
      expect(first.headers.get('x-request-id')).toBe('trace-1')
      expect((await get(path, UR_ACCEPT, {}, app.url)).status).toBe(200)
      const limited = await get(path, UR_ACCEPT, { 'x-request-id': 'trace-3' }, app.url)
      expect(limited.status).toBe(429)
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
      expect(limited.headers.get('x-request-id')).toBe('trace-3')
      expect(limited.headers.get('x-content-type-options')).toBe('nosniff')
      expect(limited.headers.get('access-control-allow-origin')).toBe('*')
      expect(lines.map(l => [l.reqId, l.status])).toEqual([['trace-1', 200], [expect.any(String), 200], ['trace-3', 429]])
    } finally {
      await new Promise(resolve => app.server.close(resolve))
    }
  })
})

describe('the wire shape and the in-process shape', () => {
  it('statusOf keeps its table; the problem object converts back to the code did-resolver uses', () => {
    const failed = (code: string): DidResolutionResult => ({ didDocument: null, didResolutionMetadata: { error: code, reason: 'r', message: 'm' }, didDocumentMetadata: {} })
    const table: Array<[string, number]> = [['invalidDid', 400], ['invalidDidUrl', 400], ['invalidOptions', 400], ['notFound', 404], ['representationNotSupported', 406],
      ['methodNotSupported', 501], ['unsupportedDidMethod', 501], ['featureNotSupported', 501], ['invalidDidDocument', 500], ['internalError', 500], ['somethingElse', 500]]
    for (const [code, status] of table) {
      expect(statusOf(failed(code)), code).toBe(status)
      expect(statusOf(toWireResult(failed(code))), code).toBe(status)
    }
    expect(statusOf({ didDocument: null, didResolutionMetadata: {}, didDocumentMetadata: { deactivated: true } })).toBe(410)
    expect(statusOf({ didDocument: null, didResolutionMetadata: {}, didDocumentMetadata: {} })).toBe(200)

    const wireResult = toWireResult(failed('notFound'))
    expect(wireResult.didResolutionMetadata).toEqual({ error: { type: 'https://www.w3.org/ns/did#NOT_FOUND', title: 'DID not found', detail: 'm', reason: 'r' } })
    expect(fromWireResult(wireResult).didResolutionMetadata).toEqual({ error: 'notFound', reason: 'r', message: 'm' })
  })
})
