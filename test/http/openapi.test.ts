/**
 * spec/openapi.yaml against the real daemon: the document is valid OpenAPI 3.1, and every answer a real
 * daemon gives (a second embedded node on 127.0.0.1 publishing identities, the admin API creating and changing
 * one) is checked against it — operation, status, media type, body schema and documented headers. At the end,
 * every operation of the document must have been exercised and every documented status seen, or listed below
 * as not reachable from a test, with the reason.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Validator } from '@seriousme/openapi-schema-validator'
import { createJWT, EdDSASigner } from 'did-jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import { ed25519ToMultikey } from '../../src/did/keys.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createRecord } from '../../src/ipns/record.ts'
import { createLogger } from '../../src/log.ts'
import { JWT_VERIFICATION_REASONS } from '../../src/client/verify.ts'
import { DAY_MS, HOUR_MS, buildChain, documentWithAuthKey, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { publishLegacy, publishVersion } from '../helpers/network.ts'
import { OpenApiChecker } from '../helpers/openapi-check.ts'
import type { Daemon } from '../../src/daemon.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'
import { DidAuthService } from '../../src/auth/service.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { fixtureSigner } from '../helpers/didauth.ts'
import type { Libp2p } from '@libp2p/interface'

const SPEC_PATH = fileURLToPath(new URL('../../spec/openapi.yaml', import.meta.url))
const doc = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as Record<string, unknown>
const checker = new OpenApiChecker(doc)

const PASS = 'openapi passphrase'
const WRONG_PASS = 'not the passphrase'
const RECORD_TYPE = 'application/vnd.ipfs.ipns-record'
const DID_KEY = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
const LEGACY_RESULT_TYPE = 'application/ld+json;profile="https://w3id.org/did-resolution"'
const DOCUMENT_TYPES = ['application/did', 'application/did+ld+json', 'application/did+json', 'application/ld+json', 'application/json']
/** Past the 8 KiB URL limit. */
const LONG_QUERY = `?pad=${'a'.repeat(9000)}`

/**
 * Documented statuses no test here can cause, as `METHOD template status` (`*` matches anything), with why.
 * Exact entries must be documented and must not be seen; wildcard entries only excuse what was not seen.
 */
const UNREACHABLE: Array<[string, string]> = [
  ['* * 500', 'internal failures (a store or backend throwing) cannot be caused from outside; reached where a published document is invalid'],
  ['* * 507', 'disk_full: this test\'s data directory has room; test/e2e/disk-full.test.ts fills a tmpfs of its own under the daemon process'],
  ['GET /admin/v1/identities 403', '403 not_loopback: the test client is on loopback; this operation takes no passphrase'],
  ['POST /admin/v1/identities 403', '403 not_loopback (any passphrase of 8+ characters creates)'],
  ['GET /admin/v1/identities/{name} 403', '403 not_loopback'],
  ['GET /admin/v1/pins 403', '403 not_loopback'],
  ['PUT /admin/v1/pins/{did} 403', '403 not_loopback'],
  ['DELETE /admin/v1/pins/{did} 403', '403 not_loopback'],
  ['GET /admin/v1/keeper 403', '403 not_loopback'],
  ['GET /admin/v1/peers 403', '403 not_loopback'],
  ['POST /admin/v1/peers/auth 403', '403 not_loopback'],
  ['GET /admin/v1/status 403', '403 not_loopback'],
  ['PUT /admin/v1/didauth 403', '403 not_loopback'],
  ['GET /admin/v1/identities/{name} 409', 'damaged_identity: identity.json is read once; test/e2e/corrupt-files.test.ts damages one between two runs of the daemon process'],
  ['GET /readyz 403', '403 not_loopback: the test client is on loopback; test/e2e/privacy.test.ts reaches it from a network namespace and through a trusted proxy'],
  ['GET /metrics 403', '403 not_loopback: the test client is on loopback; test/e2e/privacy.test.ts reaches it from a network namespace and through a trusted proxy'],
  ['GET /readyz 503', 'the embedded backend and SQLite cache cannot be made to fail without stopping the daemon; test/e2e/disk-full.test.ts fails the dataDir check on a full tmpfs'],
  ['GET /routing/v1/ipns/{name} 504', 'a lookup longer than the 15 s routing deadline'],
  ['HEAD /routing/v1/ipns/{name} 504', 'a lookup longer than the 15 s routing deadline'],
  ['PUT /routing/v1/ipns/{name} 408', 'a body trickled for 15 s'],
  ['PUT /routing/v1/ipns/{name} 503', 'a valid record whose block cannot be fetched: only answered after the 15 s deadline'],
  ['PUT /routing/v1/ipns/{name} 504', 'a lookup longer than the 15 s routing deadline']
]

interface Answer { status: number, headers: Headers, json: any, text: string, bytes: Uint8Array }

let daemon: Daemon
let limited: Daemon
let publisher: EmbeddedNode
/** DIDAuth on the publisher, proving the `live` identity: the peer `POST /admin/v1/peers/auth` authenticates. */
let publisherAuth: DidAuthService | undefined
let publisherResolver: Resolver | undefined
let token: string
const dataDirs: string[] = []

let live: TestIdentity
let liveChain: DecodedVersionNode[]
let liveRecord: Uint8Array
let dead: string
let legacy: string
let broken: string
let unpublished: string
/** The admin-created identity. */
let alice: { name: string, did: string }

async function api (method: string, path: string, options: { base?: string, headers?: Record<string, string>, body?: string | Uint8Array, token?: string | null } = {}): Promise<Answer> {
  const url = (options.base ?? daemon.httpUrl) + path
  const headers: Record<string, string> = { ...options.headers }
  const bearer = options.token === undefined ? token : options.token
  if (path.startsWith('/admin/') && bearer !== null) headers.authorization = `Bearer ${bearer}`
  if (typeof options.body === 'string' && headers['content-type'] === undefined) headers['content-type'] = 'application/json'
  const response = await fetch(url, { method, headers, ...(options.body === undefined ? {} : { body: options.body }) })
  const bytes = new Uint8Array(await response.arrayBuffer())
  const json = checker.check({ method, url, status: response.status, headers: response.headers, body: bytes })
  return { status: response.status, headers: response.headers, json, text: new TextDecoder().decode(bytes), bytes }
}

const json = (value: unknown): string => JSON.stringify(value)
const identifier = (did: string): string => `/1.0/identifiers/${encodeURIComponent(did)}`
const routing = (did: string): string => `/routing/v1/ipns/${parseDid(did).id}`
/** A concrete path for a template, with harmless sample parameters. */
const concrete = (template: string): string => template.replace(/\{(\w+)\}/g, (_m, name: string) =>
  name === 'did' ? encodeURIComponent(live.did) : name === 'fragment' ? 'web' : template.startsWith('/routing') ? parseDid(live.did).id : 'alice')

async function daemonAt (flags: { rateLimitPerMinute: number, rateLimitBurst: number }): Promise<Daemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-openapi-'))
  dataDirs.push(dataDir)
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0, ...flags }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } })
  // The cheapest key derivation: what this test checks is the API's shape, not the KDF's cost.
  return startDaemon(config, { logger: createLogger('silent'), seal: { logN: MIN_SCRYPT_LOG_N } })
}

beforeAll(async () => {
  // The main daemon must never rate-limit this test; the second one limits after one request.
  ;[daemon, limited] = await Promise.all([
    daemonAt({ rateLimitPerMinute: 1_000_000, rateLimitBurst: 100_000 }),
    daemonAt({ rateLimitPerMinute: 1, rateLimitBurst: 1 })
  ])
  token = readFileSync(join(daemon.config.dataDir, 'admin.token'), 'utf8').trim()
  publisher = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await publisher.start()
  await publisher.dial(daemon.node!.multiaddrs()[0]!)

  const base = 60_000 + Math.floor(Math.random() * 1_000_000)
  live = await testIdentity(base)
  liveChain = await buildChain(live, 2, Math.floor((Date.now() - 3 * HOUR_MS) / 1000) * 1000)
  await publisher.putBlock(liveChain[0]!.cid, liveChain[0]!.bytes)
  liveRecord = await publishVersion(publisher, live.root, liveChain[1]!)
  publisherResolver = new Resolver({ backend: publisher })
  publisherAuth = new DidAuthService({ libp2p: publisher.libp2p as Libp2p, resolver: publisherResolver, signer: () => fixtureSigner(live.did, live.auth[1]!) })
  await publisherAuth.start()

  const deadId = await testIdentity(base + 10)
  const d1 = await createFirstVersion({ document: documentWithAuthKey(deadId.did, deadId.auth[0]!), updateKeys: [multikeyOf(deadId.update[0]!)] }, deadId.root, Date.now() - HOUR_MS)
  const d2 = await createNextVersion(d1, { deactivate: true }, deadId.update[0]!, Date.now())
  await publisher.putBlock(d1.cid, d1.bytes)
  await publishVersion(publisher, deadId.root, d2)
  dead = deadId.did

  const legacyId = await testIdentity(base + 20)
  legacy = legacyId.did
  await publishLegacy(publisher, legacyId.root, legacy, {
    '@context': 'https://w3id.org/did/v1',
    service: [{ id: `${legacy};hub`, type: 'HubService', serviceEndpoint: 'https://hub.example.com' }]
  })
  // A legacy document naming another DID: it cannot be normalised, so it is an invalid DID document (500).
  const brokenId = await testIdentity(base + 30)
  broken = brokenId.did
  await publishLegacy(publisher, brokenId.root, broken, { id: live.did })

  unpublished = (await testIdentity(base + 40)).did
})

afterAll(async () => {
  await publisherAuth?.stop()
  publisherResolver?.stop()
  await Promise.allSettled([daemon?.stop(), limited?.stop(), publisher?.stop()])
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

describe('the document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator()
    const result = await validator.validate(doc)
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
  })

  it('names the verification reasons that verifyJwt raises, and the signing reasons the admin API answers', () => {
    const { schemas } = doc.components as { schemas: Record<string, { properties: { reason: { enum: string[] } } }> }
    expect(schemas.VerifyFailure!.properties.reason.enum).toEqual([...JWT_VERIFICATION_REASONS])
    const adminReasons = schemas.AdminProblem!.properties.reason.enum
    for (const reason of ['wrong_purpose', 'key_locked', 'reserved_claim', 'bad_expiry', 'too_large', 'deactivated', 'unknown_key']) expect(adminReasons).toContain(reason)
  })
})

describe('probes and listings', () => {
  it('/healthz, /readyz, /metrics, /1.0/methods, /1.0/testIdentifiers', async () => {
    expect((await api('GET', '/healthz')).json).toMatchObject({ status: 'ok', service: 'ipidd' })
    expect((await api('GET', '/readyz')).json).toEqual({ status: 'ready', checks: { cache: 'ok', ipfs: 'ok', dataDir: 'ok' } })
    expect((await api('GET', '/metrics')).text).toContain('ipidd_')
    expect((await api('GET', '/1.0/methods')).json).toEqual(['ipid'])
    expect((await api('GET', '/1.0/testIdentifiers')).json).toEqual({ ipid: [] })
  })
})

describe('resolution', () => {
  it('GET: every representation, 304, a historic version, noCache, a normalised legacy document', async () => {
    const whole = await api('GET', identifier(live.did))
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-type')).toBe('application/did-resolution')
    expect(whole.json.didDocumentMetadata.versionId).toBe(liveChain[1]!.cid.toString())
    for (const type of [...DOCUMENT_TYPES, LEGACY_RESULT_TYPE]) {
      const answer = await api('GET', identifier(live.did), { headers: { accept: type } })
      expect(answer.status, type).toBe(200)
      expect(answer.headers.get('content-type')).toBe(type)
    }
    const document = await api('GET', identifier(live.did), { headers: { accept: 'application/did+ld+json' } })
    const notModified = await api('GET', identifier(live.did), { headers: { accept: 'application/did+ld+json', 'if-none-match': document.headers.get('etag')! } })
    expect(notModified.status).toBe(304)

    const historic = await api('GET', `${identifier(live.did)}?versionId=${liveChain[0]!.cid.toString()}`)
    expect(historic.json.didDocumentMetadata).toMatchObject({ versionId: liveChain[0]!.cid.toString(), nextVersionId: liveChain[1]!.cid.toString() })
    const fresh = await api('GET', `/1.0/identifiers/${live.did}?noCache=true&expandRelativeUrls=false`)
    expect(fresh.headers.get('cache-control')).toBe('public, max-age=0')

    const normalised = await api('GET', identifier(legacy))
    expect(normalised.status).toBe(200)
    expect(normalised.json.didDocumentMetadata).toMatchObject({ normalised: true, normalisationChanges: expect.arrayContaining(['context_replaced']) })
  })

  it('GET: 400, 404, 406, 410, 500, 501', async () => {
    expect((await api('GET', identifier('did:ipid:nope!'))).json.didResolutionMetadata.error.reason).toBe('malformed_id')
    expect((await api('GET', identifier('did:ipid:nope!'), { headers: { accept: LEGACY_RESULT_TYPE } })).json['@context']).toBe('https://w3id.org/did-resolution/v1')
    expect((await api('GET', `${identifier(live.did)}?noCache=yes`)).status).toBe(400)
    // Bad percent-encoding: still a resolution result, INVALID_DID.
    const encoding = await api('GET', '/1.0/identifiers/did%3Aipid%3A%ZZ')
    expect([encoding.status, encoding.headers.get('content-type')]).toEqual([400, 'application/did-resolution'])
    expect(encoding.json.didResolutionMetadata.error).toMatchObject({ type: 'https://www.w3.org/ns/did#INVALID_DID', reason: 'malformed_encoding' })
    expect((await api('GET', identifier(unpublished))).status).toBe(404)
    expect((await api('GET', identifier(live.did), { headers: { accept: 'text/html' } })).status).toBe(406)
    expect((await api('GET', identifier(dead))).status).toBe(410)
    const deadDocument = await api('GET', identifier(dead), { headers: { accept: 'application/did' } })
    expect(deadDocument.status).toBe(410)
    expect(deadDocument.json).toEqual({ '@context': ['https://www.w3.org/ns/did/v1'], id: parseDid(dead).did })
    expect((await api('GET', identifier(broken))).json.didResolutionMetadata.error.type).toBe('https://www.w3.org/ns/did#INVALID_DID_DOCUMENT')
    expect((await api('GET', identifier(DID_KEY))).status).toBe(501)
    expect((await api('GET', `${identifier(live.did)}?foo=bar`)).status).toBe(501)
    expect((await api('GET', identifier(`${live.did}#auth-1`), { headers: { accept: LEGACY_RESULT_TYPE } })).status).toBe(501)
  })

  it('POST: 200, 400, 404, 406, 410, 413, 415, 500, 501', async () => {
    const old = await api('POST', identifier(live.did), { body: json({ versionId: liveChain[0]!.cid.toString() }) })
    expect([old.status, old.headers.get('cache-control')]).toEqual([200, 'no-store'])
    expect((await api('POST', identifier(live.did), { body: json({ noCache: true }), headers: { accept: 'application/did+json' } })).status).toBe(200)
    expect((await api('POST', identifier(live.did))).status).toBe(200)
    expect((await api('POST', identifier(live.did), { body: '{"versionId": ' })).status).toBe(400)
    expect((await api('POST', identifier(live.did), { body: json({ versionId: 7 }), headers: { accept: LEGACY_RESULT_TYPE } })).status).toBe(400)
    expect((await api('POST', identifier(unpublished), { body: '{}' })).status).toBe(404)
    expect((await api('POST', identifier(live.did), { body: '{}', headers: { accept: 'image/png' } })).status).toBe(406)
    expect((await api('POST', identifier(dead), { body: '{}', headers: { accept: 'application/did+ld+json' } })).status).toBe(410)
    expect((await api('POST', identifier(live.did), { body: json({ versionId: 'b'.repeat(20_000) }) })).status).toBe(413)
    expect((await api('POST', identifier(live.did), { body: '{}', headers: { 'content-type': 'application/json; charset=latin1' } })).status).toBe(415)
    expect((await api('POST', identifier(broken), { body: '{}' })).status).toBe(500)
    expect((await api('POST', identifier(live.did), { body: json({ depth: 2 }) })).status).toBe(501)
  })
})

describe('history and verify', () => {
  it('history: pages, a legacy document, and errors by resolution status', async () => {
    const first = await api('GET', `/1.0/history/${encodeURIComponent(live.did)}?limit=1`)
    expect(first.json.versions.map((v: { version: number }) => v.version)).toEqual([2])
    expect(first.json.nextBefore).toBe(2)
    const rest = await api('GET', `/1.0/history/${encodeURIComponent(live.did)}?before=2`)
    expect(rest.json.versions[0].signer).toBe(multikeyOf(live.root))
    expect((await api('GET', `/1.0/history/${encodeURIComponent(legacy)}`)).json).toMatchObject({ versions: [], legacy: true })
    expect((await api('GET', `/1.0/history/${encodeURIComponent(live.did)}?limit=0`)).status).toBe(400)
    expect((await api('GET', `/1.0/history/${encodeURIComponent('did:ipid:nope')}`)).status).toBe(400)
    expect((await api('GET', `/1.0/history/${encodeURIComponent(unpublished)}`)).json).toMatchObject({ status: 404, type: 'https://www.w3.org/ns/did#NOT_FOUND', title: 'DID not found', reason: 'no_record' })
    expect((await api('GET', `/1.0/history/${encodeURIComponent(broken)}`)).status).toBe(500)
    expect((await api('GET', `/1.0/history/${encodeURIComponent(DID_KEY)}`)).status).toBe(501)
  })

  it('verify: 200, 400, 413, 415, 422', async () => {
    const jwt = await createJWT({ aud: 'did:example:app', post: 'hello' }, { issuer: live.did, signer: EdDSASigner(live.auth[1]!.raw) }, { alg: 'EdDSA' })
    const verified = await api('POST', '/1.0/verify', { body: json({ jwt, audience: 'did:example:app', proofPurpose: 'authentication' }) })
    expect(verified.json).toMatchObject({ verified: true, issuer: live.did, signer: `${live.did}#auth-1`, versionId: liveChain[1]!.cid.toString() })
    expect((await api('POST', '/1.0/verify', { body: json({ token: jwt }) })).status).toBe(400)
    expect((await api('POST', '/1.0/verify', { body: '{"jwt": ' })).status).toBe(400)
    expect((await api('POST', '/1.0/verify', { body: json({ jwt: 'x'.repeat(70_000) }) })).status).toBe(413)
    expect((await api('POST', '/1.0/verify', { body: json({ jwt }), headers: { 'content-type': 'application/json; charset=latin1' } })).status).toBe(415)
    expect((await api('POST', '/1.0/verify', { body: json({ jwt, audience: 'did:example:other' }) })).json).toMatchObject({ verified: false, status: 422 })
  })
})

describe('delegated routing', () => {
  it('GET and HEAD: 200, 304, 400, 404, 406', async () => {
    for (const method of ['GET', 'HEAD']) {
      const record = await api(method, routing(live.did), { headers: { accept: RECORD_TYPE } })
      expect(record.status, method).toBe(200)
      if (method === 'GET') expect(record.bytes).toEqual(liveRecord)
      // fetch adds `Cache-Control: no-cache` to a conditional request unless told otherwise, and express then never answers 304.
      expect((await api(method, routing(live.did), { headers: { 'if-none-match': record.headers.get('etag')!, 'cache-control': 'max-age=0' } })).status).toBe(304)
      expect((await api(method, '/routing/v1/ipns/abc')).status).toBe(400)
      expect((await api(method, routing(unpublished))).status).toBe(404)
      expect((await api(method, routing(live.did), { headers: { accept: 'text/html' } })).status).toBe(406)
    }
  })

  it('PUT: 200, 400, 406, 409 (a fork, kept as evidence), 413, 415; OPTIONS: 204', async () => {
    const put = async (body: Uint8Array, headers: Record<string, string> = { 'content-type': RECORD_TYPE }): Promise<Answer> => api('PUT', routing(live.did), { body, headers })
    expect((await put(liveRecord)).status).toBe(200)
    expect((await put(new Uint8Array())).json.reason).toBe('empty_body')
    expect((await put(new Uint8Array([1, 2, 3]))).status).toBe(400)
    expect((await put(liveRecord, { 'content-type': 'text/plain' })).status).toBe(406)
    expect((await put(new Uint8Array(11 * 1024))).status).toBe(413)
    expect((await put(liveRecord, { 'content-type': RECORD_TYPE, 'content-encoding': 'gzip' })).status).toBe(415)

    // Version 2 again, but another one: signed by the root key, it forks the verified history.
    const forked = await createNextVersion(liveChain[0]!, { document: documentWithAuthKey(live.did, live.auth[2]!), updateKeys: [multikeyOf(live.update[0]!)] }, live.update[0]!, Date.now() - HOUR_MS)
    await publisher.putBlock(forked.cid, forked.bytes)
    const forkRecord = await createRecord({ privateKey: live.root, value: forked.cid, sequence: 5n, validUntilMs: Date.now() + 7 * DAY_MS })
    expect((await put(forkRecord.bytes)).json.reason).toBe('rollback_or_fork')
    const rollback = await createRecord({ privateKey: live.root, value: liveChain[0]!.cid, sequence: 0n, validUntilMs: Date.now() + 7 * DAY_MS })
    expect((await put(rollback.bytes)).status).toBe(409)
    const evidence = await api('GET', identifier(live.did))
    expect(evidence.json.didResolutionMetadata.forkEvidence).toMatchObject([{ knownHead: liveChain[1]!.cid.toString(), offeredHead: forked.cid.toString() }])

    expect((await api('OPTIONS', routing(live.did), { headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT' } })).status).toBe(204)
  })
})

// Every change unlocks scrypt-sealed keys and publishes.
describe('admin API', { timeout: 120_000 }, () => {
  const BODY_OPERATIONS: Array<[string, string, unknown]> = [
    ['POST', '/identities/{name}/services', { passphrase: PASS, service: { fragment: 'web', type: 'LinkedDomains', serviceEndpoint: 'https://example.com' } }],
    ['DELETE', '/identities/{name}/services/web', { passphrase: PASS }],
    ['POST', '/identities/{name}/keys', { passphrase: PASS }],
    ['DELETE', '/identities/{name}/keys/auth-1', { passphrase: PASS }],
    ['POST', '/identities/{name}/keys/rotate', { passphrase: PASS }],
    ['POST', '/identities/{name}/deactivate', { passphrase: PASS }]
  ]
  const at = (path: string, name: string): string => `/admin/v1${path.replace('{name}', name)}`

  it('401 without the token or with a wrong one, on every operation', async () => {
    for (const { method, template } of checker.operations().filter(o => o.template.startsWith('/admin/'))) {
      const refused = await api(method, concrete(template), { token: null })
      expect(refused.status, `${method} ${template}`).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="ipidd-admin"')
    }
    const wrong = await api('GET', '/admin/v1/identities', { token: 'x'.repeat(43) })
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="ipidd-admin", error="invalid_token"')
  })

  it('creates an identity: 201, 400, 409, 413, 415; lists and shows it: 200, 400, 404', async () => {
    expect((await api('GET', '/admin/v1/identities')).json).toEqual({ identities: [] })
    const created = await api('POST', '/admin/v1/identities', { body: json({ name: 'alice', passphrase: PASS }) })
    expect(created.status).toBe(201)
    expect(created.headers.get('location')).toBe('/admin/v1/identities/alice')
    alice = { name: 'alice', did: created.json.did as string }
    expect((await api('POST', '/admin/v1/identities', { body: json({ name: 'alice', passphrase: PASS }) })).json.reason).toBe('exists')
    expect((await api('POST', '/admin/v1/identities', { body: json({ name: 'bob', passphrase: 'short' }) })).json.reason).toBe('weak_passphrase')
    expect((await api('POST', '/admin/v1/identities', { body: json({ name: 'bob', passphrase: PASS, colour: 'red' }) })).json.reason).toBe('invalid_request')
    expect((await api('POST', '/admin/v1/identities', { body: json({ name: 'bob', passphrase: 'x'.repeat(70_000) }) })).json.reason).toBe('body_too_large')
    expect((await api('POST', '/admin/v1/identities', { body: '{}', headers: { 'content-type': 'application/json; charset=latin1' } })).status).toBe(415)

    expect((await api('GET', '/admin/v1/identities')).json.identities).toHaveLength(1)
    expect((await api('GET', '/admin/v1/identities/alice')).json).toMatchObject({ name: 'alice', prerotation: true, keys: [{ fragment: 'auth-1' }] })
    expect((await api('GET', '/admin/v1/identities/%ZZ')).status).toBe(400)
    expect((await api('GET', '/admin/v1/identities/nobody')).json.reason).toBe('unknown_identity')
    // Own identities are not listed: only configured test identifiers are (none here).
    expect((await api('GET', '/1.0/testIdentifiers')).json).toEqual({ ipid: [] })
    expect((await api('GET', identifier(alice.did))).status).toBe(200)
  })

  it('refuses changes: 400, 403 (wrong passphrase), 404, 413, 415', async () => {
    for (const [method, path, body] of BODY_OPERATIONS) {
      const where = `${method} ${path}`
      expect((await api(method, at(path, 'alice'), { body: json({ ...(body as object), extra: 1 }) })).json.reason, where).toBe('invalid_request')
      expect((await api(method, at(path, 'alice'), { body: 'x'.repeat(70_000) })).json.reason, where).toBe('body_too_large')
      expect((await api(method, at(path, 'alice'), { body: json(body), headers: { 'content-type': 'application/json; charset=latin1' } })).status, where).toBe(415)
      expect((await api(method, at(path, 'nobody'), { body: json(body) })).json.reason, where).toBe('unknown_identity')
      expect((await api(method, at(path, 'alice'), { body: json({ ...(body as object), passphrase: WRONG_PASS }) })).json.reason, where).toBe('wrong_passphrase')
    }
  })

  it('changes the identity: 201 and 200 ChangeResults, 404 and 409 refusals, then deactivates it', async () => {
    const [addService, removeService, addKey, removeKey, rotate, deactivate] = BODY_OPERATIONS.map(([method, path, body]) =>
      async (name = 'alice', override: Record<string, unknown> = {}): Promise<Answer> => api(method, at(path, name), { body: json({ ...(body as object), ...override }) }))

    const service = await addService!()
    expect([service.status, service.headers.get('location')]).toEqual([201, '/admin/v1/identities/alice'])
    expect((await addService!()).json.reason).toBe('duplicate')
    expect((await removeService!()).json).toMatchObject({ version: 3 })
    expect((await removeService!()).json.reason).toBe('unknown_service')
    const key = await addKey!()
    expect([key.status, key.json.added]).toEqual([201, ['auth-2']])
    expect((await removeKey!()).json).toMatchObject({ removed: ['auth-1'] })
    expect((await api('DELETE', '/admin/v1/identities/alice/keys/auth-1', { body: json({ passphrase: PASS }) })).json.reason).toBe('unknown_key')
    expect((await rotate!()).json).toMatchObject({ added: ['auth-3'], removed: ['auth-2'] })
    const final = await deactivate!()
    expect(final.json).toMatchObject({ deactivated: true, version: 7 })
    for (const change of [addService!, removeService!, addKey!, removeKey!, rotate!, deactivate!]) {
      expect((await change()).json.reason).toBe('deactivated')
    }
    expect((await api('GET', identifier(alice.did))).status).toBe(410)
  })

  it('pins: 200, 201, 204, 400, 404, 409; the keeper: before and after a round', async () => {
    expect((await api('GET', '/admin/v1/pins')).json).toEqual({ pins: [{ did: alice.did, kind: 'own' }] })
    const pin = `/admin/v1/pins/${live.did}`
    expect((await api('PUT', pin)).status).toBe(201)
    expect((await api('PUT', pin)).status).toBe(200)
    expect((await api('PUT', `/admin/v1/pins/${alice.did}`)).json).toEqual({ did: alice.did, kind: 'own' })
    expect((await api('PUT', '/admin/v1/pins/did:ipid:nope')).status).toBe(400)
    expect((await api('GET', '/admin/v1/pins')).json.pins).toHaveLength(2)
    expect((await api('DELETE', pin)).status).toBe(204)
    expect((await api('DELETE', pin)).json.reason).toBe('not_pinned')
    expect((await api('DELETE', `/admin/v1/pins/${alice.did}`)).json.reason).toBe('own_identity')
    expect((await api('DELETE', `/admin/v1/pins/${encodeURIComponent(DID_KEY)}`)).status).toBe(400)

    expect((await api('GET', '/admin/v1/keeper')).json).toMatchObject({ last: null })
    await daemon.keeper.runOnce()
    expect((await api('GET', '/admin/v1/keeper')).json.last).toMatchObject({ kept: 1 })
  })

  it('backups, cold update keys and the status: 200, 201, 400, 403, 404, 409, 413, 415', async () => {
    const post = async (path: string, body: unknown, headers?: Record<string, string>): Promise<Answer> =>
      api('POST', `/admin/v1${path}`, { body: typeof body === 'string' ? body : json(body), ...(headers === undefined ? {} : { headers }) })
    const created = await post('/identities', { name: 'bob', passphrase: PASS })
    expect(created.status).toBe(201)
    const BODY_ROUTES: Array<[string, Record<string, unknown>, number]> = [
      ['/identities/bob/backup', { passphrase: PASS }, 70_000],
      ['/backups', { backup: { format: 'ipidd-backup/1' }, passphrase: PASS }, 600_000],
      ['/identities/bob/update-keys/export', { passphrase: PASS }, 70_000],
      ['/identities/bob/update-keys/cold', { passphrase: PASS, publicKeys: ['z6Mk'] }, 70_000]
    ]
    for (const [path, body, tooLarge] of BODY_ROUTES) {
      expect((await post(path, { ...body, extra: 1 })).json.reason, path).toBe('invalid_request')
      expect((await post(path, 'x'.repeat(tooLarge))).json.reason, path).toBe('body_too_large')
      expect((await post(path, json(body), { 'content-type': 'application/json; charset=latin1' })).status, path).toBe(415)
      if (path !== '/backups') {
        expect((await post(path, { ...body, passphrase: WRONG_PASS })).json.reason, path).toBe('wrong_passphrase')
        expect((await post(path.replace('/bob/', '/nobody/'), body)).json.reason, path).toBe('unknown_identity')
      }
    }

    const backup = await post('/identities/bob/backup', { passphrase: PASS })
    expect(backup.json).toMatchObject({ format: 'ipidd-backup/1', identity: { name: 'bob', did: created.json.did } })
    expect(backup.text).not.toContain(PASS)
    const restored = await post('/backups', { backup: backup.json, passphrase: PASS, name: 'bob-restored' })
    expect([restored.status, restored.headers.get('location'), restored.json.did]).toEqual([201, '/admin/v1/identities/bob-restored', created.json.did])
    expect((await post('/backups', { backup: backup.json, passphrase: PASS, name: 'bob-restored' })).json.reason).toBe('exists')
    expect((await post('/backups', { backup: backup.json, passphrase: WRONG_PASS, name: 'bob-other' })).json.reason).toBe('wrong_passphrase')
    expect((await post('/backups', { backup: { format: 'nope' }, passphrase: PASS })).json.reason).toBe('bad_backup')

    const exported = await post('/identities/bob/update-keys/export', { passphrase: PASS })
    expect(exported.json).toMatchObject({ format: 'ipidd-update-keys/1', did: created.json.did, keys: [{ role: 'update' }] })
    expect((await post('/identities/bob/update-keys/cold', { passphrase: PASS, publicKeys: ['z6MkNotTheKey'] })).json.reason).toBe('cold_keys_mismatch')
    const cold = await post('/identities/bob/update-keys/cold', { passphrase: PASS, publicKeys: [exported.json.keys[0].publicKey] })
    expect(cold.json).toMatchObject({ name: 'bob', updateKeys: 'cold', coldSigner: exported.json.keys[0].publicKey })
    expect((await post('/identities/bob/update-keys/export', { passphrase: PASS })).json.reason).toBe('cold')
    expect((await post('/identities/bob/keys', { passphrase: PASS })).json.reason).toBe('update_key_required')
    const next = ed25519ToMultikey((await generateKeyPair('Ed25519')).publicKey)
    const changed = await post('/identities/bob/keys', { passphrase: PASS, updateKey: { signer: exported.json.keys[0], next } })
    expect(changed.json).toMatchObject({ version: 2, added: ['auth-2'] })
    expect((await api('GET', '/admin/v1/identities/bob')).json.coldSigner).toBe(next)

    const status = await api('GET', '/admin/v1/status')
    expect(status.json).toMatchObject({ health: { status: 'ok' }, httpUrl: daemon.httpUrl, ipfs: { backend: 'helia', peerId: daemon.node!.peerId.toString() }, identities: { held: 3 } })
  })
})

describe('DIDAuth peers', () => {
  it('authenticates a peer and lists it: 200, 400, 404, 409, 413, 415, 422', async () => {
    const post = async (body: unknown, headers?: Record<string, string>): Promise<Answer> =>
      api('POST', '/admin/v1/peers/auth', { body: typeof body === 'string' ? body : json(body), ...(headers === undefined ? {} : { headers }) })
    expect((await api('GET', '/admin/v1/peers')).json).toEqual({ peers: [] })
    const address = publisher.multiaddrs()[0]!
    const ok = await post({ address })
    expect(ok.json).toMatchObject({ ok: true, peer: { peerId: publisher.peerId.toString(), did: live.did, keyId: `${live.did}#auth-1`, versionId: liveChain[1]!.cid.toString() } })
    expect((await api('GET', '/admin/v1/peers')).json).toEqual({ peers: [ok.json.peer] })
    // The limited daemon holds no identity: it proves nothing.
    expect((await post({ address: limited.node!.multiaddrs()[0]! })).json).toMatchObject({ status: 422, reason: 'proof_required' })
    expect((await post({ address: 'somewhere' })).json.reason).toBe('bad_address')
    expect((await post({ address, colour: 'red' })).json.reason).toBe('invalid_request')
    expect((await post({ address, as: 'nobody' })).json.reason).toBe('unknown_identity')
    // alice was deactivated above: she has no key to prove with.
    expect((await post({ address, as: 'alice' })).json).toMatchObject({ status: 409, reason: 'identity_locked' })
    expect((await post('x'.repeat(70_000))).json.reason).toBe('body_too_large')
    expect((await post(json({ address }), { 'content-type': 'application/json; charset=latin1' })).status).toBe(415)
  })

  it('chooses the identity DIDAuth proves: 200, 400, 404, 409, 413, 415', async () => {
    const put = async (body: unknown, headers?: Record<string, string>): Promise<Answer> =>
      api('PUT', '/admin/v1/didauth', { body: typeof body === 'string' ? body : json(body), ...(headers === undefined ? {} : { headers }) })
    const created = await api('POST', '/admin/v1/identities', { body: json({ name: 'prover', passphrase: PASS }) })
    expect(created.status).toBe(201)
    expect((await put({ identity: 'prover' })).json).toMatchObject({ identity: 'prover', did: created.json.did, source: 'chosen', unlocked: true })
    expect((await put({ identity: 'prover', colour: 'red' })).json.reason).toBe('invalid_request')
    expect((await put({ identity: 'nobody' })).json.reason).toBe('unknown_identity')
    // alice was deactivated above: she has no key to prove with.
    expect((await put({ identity: 'alice' })).json).toMatchObject({ status: 409, reason: 'deactivated' })
    expect((await put('x'.repeat(70_000))).json.reason).toBe('body_too_large')
    expect((await put(json({ identity: 'prover' }), { 'content-type': 'application/json; charset=latin1' })).status).toBe(415)
  })
})

describe('signing for the owner', () => {
  it('signs: 200 (a JWT, a detached JWS), 400, 403 (a locked key, a wrong passphrase), 404, 409, 413, 415', async () => {
    const sign = async (name: string, body: unknown, headers?: Record<string, string>): Promise<Answer> =>
      api('POST', `/admin/v1/identities/${name}/sign`, { body: typeof body === 'string' ? body : json(body), ...(headers === undefined ? {} : { headers }) })
    const created = await api('POST', '/admin/v1/identities', { body: json({ name: 'signer', passphrase: PASS }) })
    expect(created.status).toBe(201)
    expect((await sign('signer', { type: 'jwt', aud: 'https://app.example', nonce: 'n1', claims: { scope: 'login' } })).json).toMatchObject({ type: 'jwt', did: created.json.did, kid: `${created.json.did}#auth-1` })
    expect((await sign('signer', { type: 'jws', json: { post: 'hello' } })).json).toMatchObject({ type: 'jws', purpose: 'assertionMethod' })
    expect((await sign('signer', { type: 'jws', payload: 'aGVsbG8' })).status).toBe(200)
    expect((await sign('signer', { type: 'jwt', claims: { iss: 'someone' } })).json.reason).toBe('reserved_claim')
    expect((await sign('signer', { type: 'jwt', colour: 'red' })).json.reason).toBe('invalid_request')
    expect((await sign('signer', '{"type": ')).json.reason).toBe('invalid_json')
    expect((await sign('nobody', { type: 'jwt' })).json.reason).toBe('unknown_identity')
    expect((await sign('signer', { type: 'jwt', key: 'auth-9' })).json).toMatchObject({ status: 404, reason: 'unknown_key' })
    expect((await sign('signer', { type: 'jws', purpose: 'assertionMethod', key: 'auth-1', payload: 'x'.repeat(1_400_000) })).json.reason).toBe('too_large')
    expect((await sign('signer', 'x'.repeat(1_500_000))).json.reason).toBe('body_too_large')
    expect((await sign('signer', json({ type: 'jwt' }), { 'content-type': 'application/json; charset=latin1' })).status).toBe(415)
    // A restored backup's keys are sealed until a passphrase opens them.
    const backup = await api('POST', '/admin/v1/identities/signer/backup', { body: json({ passphrase: PASS }) })
    const restored = await api('POST', '/admin/v1/backups', { body: json({ backup: backup.json, passphrase: PASS, name: 'signer-copy' }) })
    expect(restored.status).toBe(201)
    expect((await sign('signer-copy', { type: 'jwt' })).json).toMatchObject({ status: 409, reason: 'key_locked' })
    expect((await sign('signer-copy', { type: 'jwt', passphrase: 'not the passphrase' })).json).toMatchObject({ status: 403, reason: 'wrong_passphrase' })
    expect((await sign('signer-copy', { type: 'jwt', passphrase: PASS })).status).toBe(200)
    expect((await api('POST', '/admin/v1/identities/signer/deactivate', { body: json({ passphrase: PASS }) })).status).toBe(200)
    expect((await sign('signer', { type: 'jwt' })).json).toMatchObject({ status: 409, reason: 'deactivated' })
  })

  it('verify: a CORS preflight from any origin is answered 204', async () => {
    const preflight = await api('OPTIONS', '/1.0/verify', { headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    expect(preflight.status).toBe(204)
    const posted = await api('POST', '/1.0/verify', { body: json({ jwt: 'a.b.c' }), headers: { origin: 'https://app.example' } })
    expect(posted.headers.get('access-control-allow-origin')).toBe('*')
  })
})

describe('common errors', () => {
  it('414 on every operation', async () => {
    for (const { method, template } of checker.operations()) {
      const answer = await api(method, concrete(template) + LONG_QUERY, { token: null })
      expect(answer.status, `${method} ${template}`).toBe(414)
    }
  })

  it('429 with Retry-After on every rate-limited operation; the probes are never limited', async () => {
    const base = limited.httpUrl
    const first = await api('GET', '/1.0/methods', { base })
    expect(first.status).toBe(200)
    for (const { method, template } of checker.operations()) {
      const answer = await api(method, concrete(template), { base, token: null })
      const probe = template === '/healthz' || template === '/readyz'
      expect(answer.status, `${method} ${template}`).toBe(probe ? 200 : 429)
      if (!probe) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    }
  })
})

describe('coverage', () => {
  it('every operation of the document was exercised', () => {
    const missing = checker.operations().map(o => `${o.method} ${o.template}`).filter(o => !checker.seenOperations.has(o))
    expect(missing).toEqual([])
  })

  it('every documented status was seen, or is listed as unreachable with a reason', () => {
    const documented = new Set(checker.documentedStatuses())
    const matches = (pattern: string, entry: string): boolean => {
      const want = pattern.split(' ')
      return entry.split(' ').every((part, i) => want[i] === '*' || want[i] === part)
    }
    const unexplained = [...documented].filter(s => !checker.seenStatuses.has(s) && !UNREACHABLE.some(([pattern]) => matches(pattern, s)))
    expect(unexplained).toEqual([])
    for (const [pattern] of UNREACHABLE.filter(([p]) => !p.includes('*'))) {
      expect(documented.has(pattern), `${pattern} is listed as unreachable but not documented`).toBe(true)
      expect(checker.seenStatuses.has(pattern), `${pattern} is listed as unreachable but was seen`).toBe(false)
    }
  })
})
