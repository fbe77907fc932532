/**
 * The admin API over real parts: an embedded node on 127.0.0.1, Identities in a temporary data directory, a
 * ResolveCache over SQLite there, a Resolver and a Keeper (and a second node, holding an identity to pin), and the router mounted on an express app listening
 * on 127.0.0.1 (and, for the loopback check, inside a network namespace the test makes, its client in another:
 * test/helpers/remote-client.ts).
 * Every answer is collected and, at the end, searched for the passphrases and every secret of the key files.
 */
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createServer } from 'node:http'
import express from 'express'
import { base58btc } from 'multiformats/bases/base58'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ResolveCache } from '../../src/cache/cache.ts'
import { Keeper } from '../../src/cache/keeper.ts'
import { SQLITE_FILE_NAME, SqliteStore } from '../../src/cache/sqlite-store.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { ADMIN_API_PREFIX, ADMIN_JSON_LIMIT_BYTES, adminRouter, isLoopbackAddress } from '../../src/http/admin.ts'
import { ADMIN_TOKEN_FILE, AdminTokenError, loadOrCreateAdminToken, tokensEqual } from '../../src/http/admin-token.ts'
import { Identities } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N, openKey, readKeyFile } from '../../src/identity/keystore.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createLogger } from '../../src/log.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { CLIENT_ADDRESS } from '../helpers/netns.ts'
import { remoteClient, remoteClientKind } from '../helpers/remote-client.ts'
import type { AdminContext } from '../../src/http/admin.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const PASS = 'correct horse battery staple'
const OTHER_PASS = 'another long passphrase'
const WRONG_PASS = 'not the passphrase at all'
const KEEPER_INTERVAL_MS = 60 * 60 * 1000

let dataDir: string
let otherDir: string
let node: EmbeddedNode
/** Another daemon's node, holding an identity this one pins. */
let owner: EmbeddedNode
let cache: ResolveCache
let resolver: Resolver
let keeper: Keeper
let identities: Identities
let token: string
let ctx: AdminContext
const servers: Server[] = []
let url: string
const logLines: string[] = []
/** Every answer's headers and body, for the leak checks at the end. */
const answers: Array<{ status: number, headers: Headers, text: string }> = []

/** How the non-loopback client is made here: a real one in a network namespace, or an in-memory connection. */
const remote = remoteClientKind()

async function listen (app: express.Express, host: string): Promise<string> {
  const server = app.listen(0, host)
  servers.push(server)
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve).once('error', reject) })
  return `http://${host}:${(server.address() as AddressInfo).port}`
}

function appWith (context: AdminContext): express.Express {
  const app = express()
  app.use(ADMIN_API_PREFIX, adminRouter(context))
  return app
}

interface Answer { status: number, headers: Headers, text: string, json: any }

async function call (method: string, path: string, options: { body?: unknown, raw?: string, token?: string | null, type?: string, base?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  const auth = options.token === undefined ? token : options.token
  if (auth !== null) headers.authorization = `Bearer ${auth}`
  let body: string | undefined
  if (options.raw !== undefined) body = options.raw
  else if (options.body !== undefined) body = JSON.stringify(options.body)
  if (body !== undefined) headers['content-type'] = options.type ?? 'application/json'
  const response = await fetch(`${options.base ?? url}${ADMIN_API_PREFIX}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  answers.push({ status: response.status, headers: response.headers, text })
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.status, headers: response.headers, text, json }
}

function expectProblem (answer: Answer, status: number, reason?: string): void {
  expect(answer.status, answer.text).toBe(status)
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  expect(answer.json).toMatchObject({ type: 'about:blank', status, detail: expect.any(String) })
  if (reason !== undefined) expect(answer.json.reason).toBe(reason)
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ipidd-admin-'))
  otherDir = mkdtempSync(join(tmpdir(), 'ipidd-admin-other-'))
  const logger = createLogger('debug', new Writable({ write (chunk, _encoding, done) { logLines.push(String(chunk)); done() } }))
  node = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  owner = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await Promise.all([node.start(), owner.start()])
  await node.dial(owner.multiaddrs()[0]!)
  cache = new ResolveCache({ store: new SqliteStore(join(dataDir, SQLITE_FILE_NAME)), clock: Date.now, logger })
  await cache.start()
  resolver = new Resolver({ backend: node, cache, logger, deadlineMs: 5000 })
  identities = new Identities({
    dataDir,
    backend: node,
    logger,
    seal: { logN: MIN_SCRYPT_LOG_N },
    onPublished: async (name, record) => {
      await cache.pin(name.id, 'own')
      await resolver.offer(name, record)
    }
  })
  keeper = new Keeper({ backend: node, cache, clock: Date.now, logger, intervalMs: KEEPER_INTERVAL_MS, fetch: async did => resolver.resolve(did) })
  token = loadOrCreateAdminToken(dataDir)
  // The daemon's pin and unpin, over the same real parts.
  ctx = {
    token,
    identities,
    logger,
    pin: async did => {
      const name = parseDid(did)
      await cache.pin(name.id, 'pinned')
      await resolver.resolve(name.did)
    },
    unpin: async did => {
      const name = parseDid(did)
      const own = identities.list().some(i => parseDid(i.did).id === name.id)
      await (own ? cache.pin(name.id, 'own') : cache.unpin(name.id))
    },
    pins: async () => (await cache.pins()).map(p => ({ did: `did:ipid:${p.id}`, kind: p.kind })),
    keeper: () => ({ ...(keeper.last === undefined ? {} : { last: keeper.last }), intervalMs: KEEPER_INTERVAL_MS })
  }
  url = await listen(appWith(ctx), '127.0.0.1')
})

afterAll(async () => {
  await Promise.all(servers.map(async s => new Promise(resolve => { s.closeAllConnections(); s.close(resolve) })))
  await keeper.stop()
  resolver.stop()
  await cache.stop()
  await Promise.allSettled([node.stop(), owner.stop()])
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(otherDir, { recursive: true, force: true })
})

describe('admin token', () => {
  it('is made once, 0600, and the same token is read on the next start', () => {
    const path = join(dataDir, ADMIN_TOKEN_FILE)
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    expect(lstatSync(path).mode & 0o777).toBe(0o600)
    expect(loadOrCreateAdminToken(dataDir)).toBe(token)
    expect(readFileSync(path, 'utf8').trim()).toBe(token)
    expect(loadOrCreateAdminToken(mkdtempSync(join(tmpdir(), 'ipidd-admin-token-')))).not.toBe(token)
  })

  it('refuses a token file others could read, a link, and a file that holds no token', () => {
    const path = join(dataDir, ADMIN_TOKEN_FILE)
    chmodSync(path, 0o644)
    try {
      expect(() => loadOrCreateAdminToken(dataDir)).toThrow(AdminTokenError)
      expect(() => loadOrCreateAdminToken(dataDir)).toThrow(/chmod 600/)
    } finally {
      chmodSync(path, 0o600)
    }
    expect(loadOrCreateAdminToken(dataDir)).toBe(token)

    const linked = mkdtempSync(join(tmpdir(), 'ipidd-admin-token-'))
    symlinkSync(path, join(linked, ADMIN_TOKEN_FILE))
    expect(() => loadOrCreateAdminToken(linked)).toThrow(/not a plain file/)

    const garbled = mkdtempSync(join(tmpdir(), 'ipidd-admin-token-'))
    writeFileSync(join(garbled, ADMIN_TOKEN_FILE), 'short\n', { mode: 0o600 })
    expect(() => loadOrCreateAdminToken(garbled)).toThrow(/does not hold an admin token/)
  })

  it('compares tokens whatever their lengths', () => {
    expect(tokensEqual(token, token)).toBe(true)
    expect(tokensEqual(`${token}x`, token)).toBe(false)
    expect(tokensEqual('', token)).toBe(false)
    expect(tokensEqual(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), token)).toBe(false)
  })
})

describe('admin API: access', () => {
  it('answers 401 with WWW-Authenticate without a token, with a wrong one, and with another scheme', async () => {
    for (const auth of [null, 'x'.repeat(43), `${token}x`, '']) {
      const answer = await call('GET', '/identities', { token: auth })
      expectProblem(answer, 401, 'unauthorized')
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="ipidd-admin"/)
    }
    const basic = await fetch(`${url}${ADMIN_API_PREFIX}/identities`, { headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } })
    expect(basic.status).toBe(401)
    // A body sent without the token is refused before it is read.
    expectProblem(await call('POST', '/identities', { token: null, body: { name: 'mallory', passphrase: PASS } }), 401)
    expect(identities.list().map(i => i.name)).not.toContain('mallory')
  })

  it('knows loopback addresses', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) expect(isLoopbackAddress(address), address).toBe(true)
    for (const address of [undefined, '', '10.0.0.1', '192.0.2.2', '128.0.0.1', '::ffff:10.0.0.1', '::2', 'fd00::1', 'fe80::1%eth0', 'localhost', '0.0.0.0', '::']) {
      expect(isLoopbackAddress(address), String(address)).toBe(false)
    }
  })

  it(remote.kind === 'netns'
    ? 'answers 403 to a client on a non-loopback address, even with the token, unless allowRemote (a real client in a network namespace the test made)'
    : `answers 403 to a client on a non-loopback address, even with the token, unless allowRemote (no network namespaces here: ${remote.reason}; checked without network traffic, on an in-memory connection whose remote address is not loopback)`, async () => {
    const client = await remoteClient()
    try {
      const ask = async (base: string, auth: string | null): Promise<Answer> => {
        const reply = await client.request(`${base}${ADMIN_API_PREFIX}/identities`, auth === null ? {} : { headers: { authorization: `Bearer ${auth}` } })
        const headers = new Headers(reply.headers)
        answers.push({ status: reply.status, headers, text: reply.text })
        let json: unknown
        try { json = JSON.parse(reply.text) } catch {}
        return { status: reply.status, headers, text: reply.text, json }
      }
      const refusing = createServer(appWith(ctx))
      servers.push(refusing)
      const refused = await ask(await client.listen(refusing), token)
      expectProblem(refused, 403, 'not_loopback')
      expect(logLines.join('')).toContain('not from a loopback address')
      expect(logLines.join('')).toContain(CLIENT_ADDRESS)
      // The address check comes first: no token challenge is offered to a remote client.
      expect(refused.headers.get('www-authenticate')).toBeNull()

      const allowing = createServer(appWith({ ...ctx, allowRemote: true }))
      servers.push(allowing)
      const remoteBase = await client.listen(allowing)
      expectProblem(await ask(remoteBase, null), 401)
      const listed = await ask(remoteBase, token)
      expect(listed.status).toBe(200)
      expect(listed.json).toEqual({ identities: expect.any(Array) })
    } finally {
      await client.close()
    }
  })

  it('sends no CORS headers, not even to a preflight, and tells caches to store nothing', async () => {
    const preflight = await fetch(`${url}${ADMIN_API_PREFIX}/identities`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' }
    })
    expect(preflight.status).toBe(401)
    const listed = await call('GET', '/identities')
    for (const response of [preflight, listed]) {
      expect([...response.headers.keys()].filter(h => h.startsWith('access-control-'))).toEqual([])
      expect(response.headers.get('cache-control')).toBe('no-store')
    }
  })

  it('answers unknown admin paths with a problem document', async () => {
    expectProblem(await call('GET', '/nothing-here'), 404, 'not_found')
  })
})

describe('admin API: identities', () => {
  it('create → list → show → add a service → rotate the auth key → add and remove keys → deactivate', async () => {
    const created = await call('POST', '/identities', {
      body: { name: 'alice', passphrase: PASS, services: [{ fragment: 'home', type: 'LinkedDomains', serviceEndpoint: 'https://alice.example' }] }
    })
    expect(created.status, created.text).toBe(201)
    expect(created.headers.get('content-type')).toMatch(/^application\/json/)
    expect(created.headers.get('location')).toBe(`${ADMIN_API_PREFIX}/identities/alice`)
    expect(created.json).toEqual({ name: 'alice', did: expect.stringMatching(/^did:ipid:k51/), versionId: expect.any(String), version: 1, deactivated: false })
    const { did } = created.json as { did: string }

    const listed = await call('GET', '/identities')
    expect(listed.json).toEqual({ identities: [created.json] })

    const shown = await call('GET', '/identities/alice')
    expect(shown.json).toEqual({
      ...created.json,
      prerotation: true,
      updateKeys: 'daemon',
      keys: [{ fragment: 'auth-1', publicKeyMultibase: expect.stringMatching(/^z6Mk/), purposes: ['authentication', 'assertionMethod'] }],
      services: [{ fragment: 'home', type: 'LinkedDomains', serviceEndpoint: 'https://alice.example' }]
    })

    const service = await call('POST', '/identities/alice/services', {
      body: { passphrase: PASS, service: { fragment: 'inbox', type: 'ActivityPubInbox', serviceEndpoint: 'https://social.example/alice/inbox' } }
    })
    expect(service.status, service.text).toBe(201)
    expect(service.headers.get('location')).toBe(`${ADMIN_API_PREFIX}/identities/alice`)
    expect(service.json).toEqual({ name: 'alice', did, versionId: expect.any(String), version: 2, deactivated: false, previousVersionId: created.json.versionId, added: [], removed: [] })
    // Published for real: the resolver answers the new version with the service.
    const v2 = await resolver.resolve(did)
    expect(v2.didDocumentMetadata.versionId).toBe(service.json.versionId)
    expect(v2.didDocument?.service?.map(s => s.id)).toEqual([`${did}#home`, `${did}#inbox`])

    const rotated = await call('POST', '/identities/alice/keys/rotate', { body: { passphrase: PASS, purpose: 'authentication' } })
    expect(rotated.status, rotated.text).toBe(200)
    expect(rotated.json).toMatchObject({ version: 3, previousVersionId: service.json.versionId, added: ['auth-2'], removed: ['auth-1'] })
    expect((await resolver.resolve(did)).didDocument?.authentication).toEqual([`${did}#auth-2`])

    const addedKey = await call('POST', '/identities/alice/keys', { body: { passphrase: PASS, purposes: ['keyAgreement'] } })
    expect(addedKey.status, addedKey.text).toBe(201)
    expect(addedKey.json).toMatchObject({ version: 4, added: ['auth-3'], removed: [] })
    expect(addedKey.headers.get('location')).toBe(`${ADMIN_API_PREFIX}/identities/alice`)
    const removedKey = await call('DELETE', '/identities/alice/keys/auth-3', { body: { passphrase: PASS } })
    expect(removedKey.json).toMatchObject({ version: 5, added: [], removed: ['auth-3'] })
    const removedService = await call('DELETE', '/identities/alice/services/home', { body: { passphrase: PASS } })
    expect(removedService.json).toMatchObject({ version: 6 })
    expect((await call('GET', '/identities/alice')).json).toMatchObject({
      version: 6,
      keys: [{ fragment: 'auth-2', purposes: ['authentication', 'assertionMethod'] }],
      services: [{ fragment: 'inbox' }]
    })

    const gone = await call('POST', '/identities/alice/deactivate', { body: { passphrase: PASS } })
    expect(gone.status, gone.text).toBe(200)
    expect(gone.json).toMatchObject({ version: 7, deactivated: true })
    expect((await resolver.resolve(did)).didDocumentMetadata.deactivated).toBe(true)
    expect((await call('GET', '/identities')).json.identities).toEqual([expect.objectContaining({ name: 'alice', deactivated: true, version: 7 })])
    expectProblem(await call('POST', '/identities/alice/keys/rotate', { body: { passphrase: PASS } }), 409, 'deactivated')
  })

  it('maps refusals: wrong passphrase 403, unknown 404, conflicts 409, bad names and passphrases 400', async () => {
    const bob = await call('POST', '/identities', { body: { name: 'bob', passphrase: OTHER_PASS } })
    expect(bob.status, bob.text).toBe(201)
    const wrong = await call('POST', '/identities/bob/keys/rotate', { body: { passphrase: WRONG_PASS } })
    expectProblem(wrong, 403, 'wrong_passphrase')
    expect(wrong.headers.get('www-authenticate')).toBeNull()
    expect(identities.get('bob').head).toBe(bob.json.versionId)

    expectProblem(await call('GET', '/identities/nobody'), 404, 'unknown_identity')
    expectProblem(await call('POST', '/identities/nobody/deactivate', { body: { passphrase: PASS } }), 404, 'unknown_identity')
    expectProblem(await call('DELETE', '/identities/bob/services/nothing', { body: { passphrase: OTHER_PASS } }), 404, 'unknown_service')
    expectProblem(await call('DELETE', '/identities/bob/keys/auth-9', { body: { passphrase: OTHER_PASS } }), 404, 'unknown_key')
    expectProblem(await call('POST', '/identities', { body: { name: 'bob', passphrase: OTHER_PASS } }), 409, 'exists')
    expectProblem(await call('POST', '/identities/bob/services', {
      body: { passphrase: OTHER_PASS, service: { fragment: 'auth-1', type: 'LinkedDomains', serviceEndpoint: 'https://bob.example' } }
    }), 409, 'duplicate')
    expectProblem(await call('POST', '/identities', { body: { name: 'Bad Name', passphrase: PASS } }), 400, 'bad_name')
    expectProblem(await call('POST', '/identities', { body: { name: 'shorty', passphrase: 'short' } }), 400, 'weak_passphrase')
    // A document ipidd refuses (an endpoint that is not a URI) is the client's mistake, with the document's reason.
    const badEndpoint = await call('POST', '/identities/bob/services', {
      body: { passphrase: OTHER_PASS, service: { fragment: 'web', type: 'LinkedDomains', serviceEndpoint: 'not a uri' } }
    })
    expectProblem(badEndpoint, 400)
    expect(badEndpoint.json.code).toBe('invalidDidDocument')
    expect(identities.list().map(i => i.name)).toEqual(['alice', 'bob'])
  })

  it('answers 400 to bodies that are missing, malformed, of the wrong shape, or of the wrong type; 413 when too large', async () => {
    const cases: Array<[string, string, Parameters<typeof call>[2]]> = [
      ['POST', '/identities', {}],
      ['POST', '/identities', { body: { name: 'eve' } }],
      ['POST', '/identities', { body: { name: 'eve', passphrase: PASS, passphase: PASS } }],
      ['POST', '/identities', { body: { name: 'eve', passphrase: PASS, services: [{ fragment: 'bad fragment', type: 'X', serviceEndpoint: 'https://x.example' }] } }],
      ['POST', '/identities', { body: { name: 'eve', passphrase: PASS, prerotation: 'yes' } }],
      ['POST', '/identities', { body: ['eve', PASS] }],
      ['POST', '/identities', { raw: `name=eve&passphrase=${PASS}`, type: 'application/x-www-form-urlencoded' }],
      ['POST', '/identities/bob/keys', { body: { passphrase: OTHER_PASS, purposes: ['everything'] } }],
      ['POST', '/identities/bob/keys', { body: { passphrase: OTHER_PASS, purposes: [] } }],
      ['POST', '/identities/bob/keys/rotate', { body: { passphrase: 42 } }],
      ['POST', '/identities/bob/deactivate', {}],
      ['DELETE', '/identities/bob/services/x', { body: { passphrase: 'x'.repeat(2000) } }]
    ]
    for (const [method, path, options] of cases) expectProblem(await call(method, path, options), 400, 'invalid_request')

    // Unparsable JSON: the parser's message (which quotes the body, passphrase included) is not passed on.
    const malformed = await call('POST', '/identities', { raw: `{"name": "eve", "passphrase": "${PASS}"` })
    expectProblem(malformed, 400, 'invalid_json')
    expect(malformed.text).not.toContain(PASS)

    const tooLarge = await call('POST', '/identities', { body: { name: 'eve', passphrase: PASS, services: [{ fragment: 'big', type: 'X', serviceEndpoint: { blob: 'x'.repeat(ADMIN_JSON_LIMIT_BYTES) } }] } })
    expectProblem(tooLarge, 413, 'body_too_large')

    expectProblem(await call('PUT', '/pins/did:ipid:not-a-name'), 400)
    expectProblem(await call('PUT', '/pins/did:web:example.com'), 400)
    expect(identities.list().map(i => i.name)).not.toContain('eve')
  })
})

describe('admin API: pins and keeper', () => {
  it('lists own identities; pins another, idempotently; refuses to unpin an own one; unpins', async () => {
    const others = new Identities({ dataDir: otherDir, backend: owner, seal: { logN: MIN_SCRYPT_LOG_N } })
    const carol = await others.create({ name: 'carol', passphrase: PASS })
    const own = identities.list().map(i => i.did)

    const before = await call('GET', '/pins')
    expect(before.json).toEqual({ pins: expect.arrayContaining(own.map(d => ({ did: d, kind: 'own' }))) })
    expect(before.json.pins).toHaveLength(own.length)

    const pinned = await call('PUT', `/pins/${carol.did}`)
    expect(pinned.status, pinned.text).toBe(201)
    expect(pinned.json).toEqual({ did: carol.did, kind: 'pinned' })
    expect((await cache.read(parseDid(carol.did).id))?.entry).toBeDefined() // fetched now, so held while carol is offline
    const again = await call('PUT', `/pins/${carol.did}`)
    expect(again.status).toBe(200)
    expect((await call('GET', '/pins')).json.pins).toContainEqual({ did: carol.did, kind: 'pinned' })

    // An own identity stays own: pinning it changes nothing, unpinning it is refused.
    const ownPin = await call('PUT', `/pins/${own[0]!}`)
    expect(ownPin.status).toBe(200)
    expect(ownPin.json).toEqual({ did: own[0], kind: 'own' })
    expectProblem(await call('DELETE', `/pins/${own[0]!}`), 409, 'own_identity')
    expect((await cache.pins()).find(p => `did:ipid:${p.id}` === own[0])?.kind).toBe('own')

    const unpinned = await call('DELETE', `/pins/${encodeURIComponent(carol.did)}`)
    expect(unpinned.status).toBe(204)
    expect(unpinned.text).toBe('')
    expectProblem(await call('DELETE', `/pins/${carol.did}`), 404, 'not_pinned')
    expect((await call('GET', '/pins')).json.pins).not.toContainEqual(expect.objectContaining({ did: carol.did }))
    expect((await cache.pins()).map(p => p.id)).not.toContain(parseDid(carol.did).id)
  })

  it('answers 500 without details when a part fails (here a cache whose store is closed), and logs it', async () => {
    const closed = new ResolveCache({ store: new SqliteStore(join(dataDir, 'closed.sqlite')), clock: Date.now })
    await closed.start()
    await closed.stop()
    const base = await listen(appWith({ ...ctx, pins: async () => (await closed.pins()).map(p => ({ did: `did:ipid:${p.id}`, kind: p.kind })) }), '127.0.0.1')
    const failed = await call('GET', '/pins', { base })
    expectProblem(failed, 500)
    expect(failed.json).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'internal error' })
    expect(logLines.join('')).toContain('admin request failed')
  })

  it('reports the keeper: null before the first round, then the last round', async () => {
    expect((await call('GET', '/keeper')).json).toEqual({ intervalMs: KEEPER_INTERVAL_MS, last: null })
    const round = await keeper.runOnce()
    const status = await call('GET', '/keeper')
    expect(status.status).toBe(200)
    expect(status.json).toEqual({ intervalMs: KEEPER_INTERVAL_MS, last: round })
    expect(status.json.last).toMatchObject({ startedAt: expect.any(String), kept: identities.list().length, failed: 0, missing: 0 })
  })
})

describe('admin API: secrets', () => {
  it('no answer and no log line carries a passphrase, a private key or anything from a key file', async () => {
    const secrets = [PASS, OTHER_PASS, WRONG_PASS]
    for (const dir of [join(dataDir, 'identities'), join(otherDir, 'identities')]) {
      for (const name of readdirSync(dir)) {
        const keyDir = join(dir, name, 'keys')
        for (const fileName of readdirSync(keyDir)) {
          const file = readKeyFile(join(keyDir, fileName)) as { ciphertext: string, kdf: { salt: string }, cipher: { nonce: string } }
          secrets.push(file.ciphertext, file.kdf.salt, file.cipher.nonce)
          const key = await openKey(file, name === 'bob' ? OTHER_PASS : PASS)
          const seed = Buffer.from(key.raw.subarray(0, 32))
          for (const bytes of [seed, Buffer.from(key.raw)]) {
            secrets.push(bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'), base58btc.encode(bytes))
          }
        }
      }
    }
    expect(answers.length).toBeGreaterThan(40)
    const logs = logLines.join('')
    expect(logs).toContain('identity created')
    for (const text of [...answers.map(a => a.text), logs]) {
      for (const secret of secrets) expect(text.includes(secret), `a secret (${secret.length} chars) leaked`).toBe(false)
      expect(text).not.toMatch(/"d"\s*:/)
      expect(text).not.toMatch(/privateKey|ciphertext|secretKey/i)
    }
    for (const answer of answers) {
      for (const [, value] of answer.headers) for (const secret of secrets) expect(value.includes(secret)).toBe(false)
    }
    expect(logs).not.toContain(token)
  })
})
