/**
 * `POST /admin/v1/identities/{name}/sign` on a real daemon (embedded node on 127.0.0.1, SQLite cache, data in a
 * temporary folder): JWTs that did-jwt verifies through the daemon's own resolver, detached JWS that jose (a
 * JOSE library that is not ipidd's) verifies with the key the resolved document lists, the key chosen by
 * relationship, every refusal a problem with a reason, the log and the metrics. The access log is left out of
 * the captured lines; the daemon's log is kept and searched for payloads and passphrases at the end.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { verifyJWT } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { flattenedVerify, importJWK } from 'jose'
import { base64url } from 'multiformats/bases/base64'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { ed25519ToJwk, multikeyToEd25519 } from '../../src/did/keys.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { createLogger } from '../../src/log.ts'
import { getResolver } from '../../src/resolver/driver.ts'
import { DEFAULT_JWT_LIFETIME_S, MAX_JWT_LIFETIME_S } from '../../src/sign/jwt.ts'
import { MAX_JWS_PAYLOAD_BYTES } from '../../src/sign/jws.ts'
import type { Daemon } from '../../src/daemon.ts'

const PASS = 'signing test passphrase'
const APP = 'https://app.example'
/** Words that must never reach the daemon's log: a payload, a claim value, the passphrase. */
const SECRET_PAYLOAD = 'a post nobody may log'
const SECRET_CLAIM = 'claim-value-not-for-logs'

let dataDir: string
let daemon: Daemon
let token: string
let did: string
const logLines: string[] = []

async function start (passphrase?: string): Promise<Daemon> {
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } })
  const logger = createLogger('info', new Writable({ write (chunk, _encoding, done) { logLines.push(String(chunk)); done() } }))
  return startDaemon(config, { logger, accessLogger: createLogger('silent'), seal: { logN: MIN_SCRYPT_LOG_N }, ...(passphrase === undefined ? {} : { passphrase }) })
}

async function admin (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const response = await fetch(`${daemon.httpUrl}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) })
  })
  const text = await response.text()
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) }
}

const sign = async (body: Record<string, unknown>, name = 'alice'): ReturnType<typeof admin> => admin('POST', `/identities/${name}/sign`, body)

function expectRefused (answer: { status: number, json: any }, status: number, reason: string): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(answer.status, JSON.stringify(answer.json)).toBe(status)
  expect(answer.json).toMatchObject({ status, reason, detail: expect.any(String) })
}

const didResolver = (): DidResolver => new DidResolver(getResolver(daemon.resolver))

/** The public key of `keyId` as the resolved document lists it, as a JWK for jose. */
async function documentKey (keyId: string): Promise<CryptoKey> {
  const resolved = await daemon.resolver.resolve(did)
  const method = resolved.didDocument?.verificationMethod?.find(m => m.id === keyId)
  expect(method, keyId).toBeDefined()
  const publicKey = multikeyToEd25519(method!.publicKeyMultibase as string)!
  return importJWK({ ...ed25519ToJwk(publicKey), alg: 'EdDSA' }, 'EdDSA') as Promise<CryptoKey>
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ipidd-sign-'))
  daemon = await start()
  token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim()
  const created = await admin('POST', '/identities', { name: 'alice', passphrase: PASS })
  expect(created.status).toBe(201)
  did = created.json.did
})

afterAll(async () => {
  await daemon?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('signing for the owner', () => {
  it('signs a login JWT: iss the DID, kid the key\'s DID URL, the versionId of its document; did-jwt verifies it', async () => {
    const answer = await sign({ type: 'jwt', aud: APP, nonce: 'n1', claims: { purpose: SECRET_CLAIM } })
    expect(answer.status, JSON.stringify(answer.json)).toBe(200)
    const detail = await admin('GET', '/identities/alice')
    expect(answer.json).toMatchObject({ type: 'jwt', did, kid: `${did}#auth-1`, versionId: detail.json.versionId, purpose: 'authentication' })
    expect(answer.json.exp - answer.json.iat).toBe(DEFAULT_JWT_LIFETIME_S)

    const verified = await verifyJWT(answer.json.jwt, { resolver: didResolver(), audience: APP, proofPurpose: 'authentication' })
    expect(verified.issuer).toBe(did)
    expect(verified.signer.id).toBe(`${did}#auth-1`)
    expect(verified.payload).toMatchObject({ iss: did, aud: APP, nonce: 'n1', purpose: SECRET_CLAIM, iat: answer.json.iat, exp: answer.json.exp })
    const header = JSON.parse(new TextDecoder().decode(base64url.baseDecode(answer.json.jwt.split('.')[0])))
    expect(header).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: `${did}#auth-1` })

    // The daemon's public verify endpoint agrees, and names the same key and version.
    const checked = await fetch(`${daemon.httpUrl}/1.0/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jwt: answer.json.jwt, audience: APP }) })
    expect(await checked.json()).toMatchObject({ verified: true, issuer: did, signer: `${did}#auth-1`, versionId: detail.json.versionId })
  })

  it('takes an absolute expiry or a lifetime, bounded; refuses claims it sets itself', async () => {
    const now = Math.floor(Date.now() / 1000)
    const absolute = await sign({ type: 'jwt', exp: now + 3600 })
    expect(absolute.json.exp).toBe(now + 3600)
    const lifetime = await sign({ type: 'jwt', lifetimeSeconds: 60 })
    expect(lifetime.json.exp - lifetime.json.iat).toBe(60)
    expectRefused(await sign({ type: 'jwt', exp: now - 10 }), 400, 'bad_expiry')
    expectRefused(await sign({ type: 'jwt', exp: now + MAX_JWT_LIFETIME_S + 3600 }), 400, 'bad_expiry')
    expectRefused(await sign({ type: 'jwt', lifetimeSeconds: MAX_JWT_LIFETIME_S + 1 }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'jwt', exp: now + 60, lifetimeSeconds: 60 }), 400, 'invalid_request')
    for (const claim of ['iss', 'iat', 'exp', 'aud', 'nonce']) expectRefused(await sign({ type: 'jwt', claims: { [claim]: 'x' } }), 400, 'reserved_claim')
    expectRefused(await sign({ type: 'jwt', claims: { big: 'x'.repeat(9000) } }), 413, 'too_large')
    expectRefused(await sign({ type: 'jwt', unknown: 1 }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'sig' }), 400, 'invalid_request')
  })

  it('signs a post as a detached JWS that a standard JOSE library verifies with the document\'s key', async () => {
    const bytes = new TextEncoder().encode(SECRET_PAYLOAD)
    const answer = await sign({ type: 'jws', payload: base64url.baseEncode(bytes) })
    expect(answer.status, JSON.stringify(answer.json)).toBe(200)
    expect(answer.json).toMatchObject({ type: 'jws', did, kid: `${did}#auth-1`, purpose: 'assertionMethod', payload: base64url.baseEncode(bytes) })
    const [protectedHeader, empty, signature] = answer.json.jws.split('.')
    expect(empty).toBe('')
    const verified = await flattenedVerify({ protected: protectedHeader, payload: base64url.baseEncode(bytes), signature }, await documentKey(answer.json.kid))
    expect(new TextDecoder().decode(verified.payload)).toBe(SECRET_PAYLOAD)
    expect(verified.protectedHeader).toEqual({ alg: 'EdDSA', kid: `${did}#auth-1` })
    // Other bytes do not verify.
    await expect(flattenedVerify({ protected: protectedHeader, payload: base64url.baseEncode(new TextEncoder().encode('another post')), signature }, await documentKey(answer.json.kid))).rejects.toThrow()
  })

  it('signs JSON by its RFC 8785 serialization, so a verifier rebuilds the bytes from the JSON', async () => {
    const answer = await sign({ type: 'jws', json: { text: 'hello', at: 2, tags: ['b', 'a'], 'é': 1.5 } })
    expect(answer.status, JSON.stringify(answer.json)).toBe(200)
    const jcs = '{"at":2,"tags":["b","a"],"text":"hello","é":1.5}'
    expect(new TextDecoder().decode(base64url.baseDecode(answer.json.payload))).toBe(jcs)
    const [protectedHeader, , signature] = answer.json.jws.split('.')
    await flattenedVerify({ protected: protectedHeader, payload: base64url.baseEncode(new TextEncoder().encode(jcs)), signature }, await documentKey(answer.json.kid))
    expectRefused(await sign({ type: 'jws', json: 'a bare string' }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'jws' }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'jws', payload: 'AA', json: {} }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'jws', payload: 'not base64url!' }), 400, 'invalid_request')
  })

  it('limits the payload', async () => {
    const tooLarge = base64url.baseEncode(new Uint8Array(MAX_JWS_PAYLOAD_BYTES + 1))
    expectRefused(await sign({ type: 'jws', payload: tooLarge }), 413, 'too_large')
    const atLimit = await sign({ type: 'jws', payload: base64url.baseEncode(new Uint8Array(MAX_JWS_PAYLOAD_BYTES)) })
    expect(atLimit.status).toBe(200)
    expectRefused(await sign({ type: 'jws', payload: 'A'.repeat(MAX_JWS_PAYLOAD_BYTES * 2) }), 413, 'body_too_large')
  })

  it('chooses the key by relationship, and checks a key asked for by name', async () => {
    const added = await admin('POST', '/identities/alice/keys', { passphrase: PASS, purposes: ['assertionMethod'] })
    expect(added.status).toBe(201)
    const assertion = added.json.added[0] as string
    // Statements: the newest assertion key; logins: still auth-1, the only authentication key.
    const statement = await sign({ type: 'jws', payload: 'AQID' })
    expect(statement.json).toMatchObject({ kid: `${did}#${assertion}`, versionId: added.json.versionId })
    const login = await sign({ type: 'jwt', aud: APP })
    expect(login.json.kid).toBe(`${did}#auth-1`)
    const asAssertion = await sign({ type: 'jwt', aud: APP, purpose: 'assertionMethod', key: assertion })
    expect(asAssertion.json.kid).toBe(`${did}#${assertion}`)
    await verifyJWT(asAssertion.json.jwt, { resolver: didResolver(), audience: APP, proofPurpose: 'assertionMethod' })

    expectRefused(await sign({ type: 'jwt', key: assertion }), 409, 'wrong_purpose')
    expectRefused(await sign({ type: 'jwt', key: 'auth-99' }), 404, 'unknown_key')
    expectRefused(await sign({ type: 'jwt', key: '../root' }), 400, 'invalid_request')
    expectRefused(await sign({ type: 'jwt' }, 'nobody'), 404, 'unknown_identity')
  })

  it('after a rotation signs with the new key; the old key is no longer in the document', async () => {
    const rotated = await admin('POST', '/identities/alice/keys/rotate', { passphrase: PASS })
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200)
    const [removed] = rotated.json.removed as string[]
    const [added] = rotated.json.added as string[]
    expectRefused(await sign({ type: 'jwt', key: removed }), 404, 'unknown_key')
    const login = await sign({ type: 'jwt', aud: APP })
    expect(login.json).toMatchObject({ kid: `${did}#${added}`, versionId: rotated.json.versionId })
    await verifyJWT(login.json.jwt, { resolver: didResolver(), audience: APP })
  })

  it('counts signatures and refusals in /metrics, and logs each signature without payload, claims or passphrase', async () => {
    const metrics = await (await fetch(`${daemon.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/ipidd_signatures_total\{type="jwt",purpose="authentication"\} [1-9]/)
    expect(metrics).toMatch(/ipidd_signatures_total\{type="jws",purpose="assertionMethod"\} [1-9]/)
    expect(metrics).toMatch(/ipidd_sign_refused_total\{reason="wrong_purpose"\} 1/)
    const signed = logLines.filter(line => line.includes('"signed a JWT"')).map(line => JSON.parse(line))
    expect(signed.length).toBeGreaterThan(3)
    expect(signed[0]).toMatchObject({ identity: 'alice', did, kid: `${did}#auth-1`, aud: APP, type: 'jwt', purpose: 'authentication' })
    expect(logLines.some(line => line.includes('"signed a detached JWS"'))).toBe(true)
    const log = logLines.join('')
    for (const secret of [SECRET_CLAIM, SECRET_PAYLOAD, base64url.baseEncode(new TextEncoder().encode(SECRET_PAYLOAD)), PASS, '"n1"']) expect(log).not.toContain(secret)
  })

  it('refuses locked keys unless the passphrase is given, and a deactivated identity', async () => {
    // A restart without IPIDD_PASSPHRASE: the keys stay sealed on disk.
    await daemon.stop()
    daemon = await start()
    expectRefused(await sign({ type: 'jwt', aud: APP }), 409, 'key_locked')
    expectRefused(await sign({ type: 'jwt', aud: APP, passphrase: 'not the passphrase' }), 403, 'wrong_passphrase')
    const opened = await sign({ type: 'jwt', aud: APP, passphrase: PASS })
    expect(opened.status).toBe(200)
    // Opened for that one signature, not kept.
    expectRefused(await sign({ type: 'jwt', aud: APP }), 409, 'key_locked')

    // With the passphrase at start, the keys are unlocked for the run.
    await daemon.stop()
    daemon = await start(PASS)
    expect((await sign({ type: 'jws', payload: 'AQID' })).status).toBe(200)

    expect((await admin('POST', '/identities/alice/deactivate', { passphrase: PASS })).status).toBe(200)
    const refused = await sign({ type: 'jwt', aud: APP })
    expectRefused(refused, 409, 'deactivated')
    expect(refused.json.detail).toMatch(/deactivated/)
  })
})
