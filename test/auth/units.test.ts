/**
 * The DIDAuth parts on their own: message schemas and encoding, proofs (create, and every check of verify in
 * its order), nonces, the replay set, the limiter and the registry — no network, an injected clock.
 */
import { describe, expect, it } from 'vitest'
import { DidAuthError, MAX_LOGGED_CAUSE_CHARS, asDidAuthError, describeCause } from '../../src/auth/errors.ts'
import { STEP_TIMEOUT_MS } from '../../src/auth/framing.ts'
import { Initiator, Responder } from '../../src/auth/handshake.ts'
import { HandshakeLimiter, MAX_CONCURRENT_OUTBOUND_HANDSHAKES } from '../../src/auth/limits.ts'
import { MAX_MESSAGE_BYTES, decodeMessage, encodeMessage } from '../../src/auth/messages.ts'
import { NONCE_TTL_MS, NONCE_TTL_STEPS, NonceStore, ReplaySet, newNonce, nonceLifetimeMs } from '../../src/auth/nonces.ts'
import { CLOCK_SKEW_MS, PROOF_LIFETIME_MS, createProof, decodeProof, verifyProof } from '../../src/auth/proof.ts'
import { PeerRegistry } from '../../src/auth/registry.ts'
import { loadConfig } from '../../src/config.ts'
import { errorResult } from '../../src/resolver/resolver.ts'
import { IpidError } from '../../src/errors.ts'
import { equivalentDids, parseDid } from '../../src/did/identifier.ts'
import { T0, documentWithAuthKey, seededKey, testIdentity } from '../helpers/fixtures.ts'
import { documentWithKey, fixtureSigner, testClock } from '../helpers/didauth.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createJWT } from 'did-jwt'
import { base64url } from 'multiformats/bases/base64'
import type { HandshakeDeps } from '../../src/auth/handshake.ts'
import type { DidResolutionResult } from '../../src/resolver/resolver.ts'
import type { DidDocument } from '../../src/did/document.ts'
import type { VerifyProofOptions } from '../../src/auth/proof.ts'

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))

function reasonOf (run: () => unknown): string | undefined {
  try {
    run()
  } catch (err) {
    return err instanceof DidAuthError ? err.reason : `not a DidAuthError: ${String(err)}`
  }
  return undefined
}

async function rejection (promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
  } catch (err) {
    return err instanceof DidAuthError ? err.reason : `not a DidAuthError: ${String(err)}`
  }
  return undefined
}

describe('messages', () => {
  const nonce = newNonce()
  it('round-trips each message; refuses unknown members, wrong types, bad values and unexpected types (bad_message)', async () => {
    const did = (await testIdentity(7200)).did
    const hello = { type: 'hello', version: 1, did, nonce, wantProof: true } as const
    expect(decodeMessage(encodeMessage(hello), ['hello'])).toEqual(hello)
    expect(decodeMessage(bytes({ type: 'challenge', nonce }), ['challenge', 'outcome'])).toEqual({ type: 'challenge', nonce })
    expect(decodeMessage(bytes({ type: 'outcome', ok: false, reason: 'wrong_peer' }), ['challenge', 'outcome'])).toMatchObject({ ok: false })
    const bad = [
      'not json', '[]', 'null', '"hello"', { type: 'hello', version: 1, nonce, wantProof: true, extra: 1 },
      { type: 'hello', version: 1, nonce: 'short', wantProof: true }, { type: 'hello', version: '1', nonce, wantProof: true },
      { type: 'hello', version: 1, nonce, wantProof: true, did: 'did:key:z6Mk' },
      // another spelling of the same DID: only the canonical form is accepted
      { type: 'hello', version: 1, nonce, wantProof: true, did: equivalentDids(parseDid(did))[1] },
      { type: 'challenge', nonce, did }, { type: 'challenge', nonce, proof: 'a.b.c' },
      { type: 'outcome', ok: true, reason: 'fine' }, { type: 'outcome', ok: false }, { type: 'outcome', ok: false, reason: 'Bad Reason' },
      { type: 'proof', proof: 'not a jwt' }
    ]
    for (const value of bad) expect(reasonOf(() => decodeMessage(bytes(value), ['hello', 'challenge', 'outcome', 'proof'])), JSON.stringify(value)).toBe('bad_message')
    expect(reasonOf(() => decodeMessage(bytes(hello), ['proof']))).toBe('bad_message')
    expect(reasonOf(() => decodeMessage(new Uint8Array([0xc3, 0x28]), ['hello']))).toBe('bad_message')
    expect(reasonOf(() => decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1), ['hello']))).toBe('oversized_message')
    expect(reasonOf(() => encodeMessage({ type: 'proof', proof: 'x'.repeat(MAX_MESSAGE_BYTES) }))).toBe('oversized_message')
  })
})

describe('nonces and the replay set', () => {
  it('nonces are 32 random bytes, base64url; each is used once, and only while fresh', () => {
    const clock = testClock(T0)
    const a = newNonce()
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(base64url.baseDecode(a)).toHaveLength(32)
    expect(new Set(Array.from({ length: 1000 }, newNonce)).size).toBe(1000)
    const store = new NonceStore({ clock })
    const n = store.issue()
    expect(store.consume(n)).toBe('ok')
    expect(store.consume(n)).toBe('unknown')
    expect(store.consume(newNonce())).toBe('unknown')
    const late = store.issue()
    clock.advance(NONCE_TTL_MS)
    expect(store.consume(late)).toBe('expired')
    const released = store.issue()
    store.release(released)
    expect(store.consume(released)).toBe('unknown')
    expect(store.size).toBe(0)
  })

  it('knows which nonces it issued and still holds (to refuse them reflected back)', () => {
    const clock = testClock(T0)
    const store = new NonceStore({ clock })
    const n = store.issue()
    expect(store.isLive(n)).toBe(true)
    expect(store.isLive(newNonce())).toBe(false)
    expect(store.consume(n)).toBe('ok')
    expect(store.isLive(n)).toBe(false)
    const old = store.issue()
    clock.advance(NONCE_TTL_MS)
    expect(store.isLive(old)).toBe(false)
  })

  it('nonces live NONCE_TTL_STEPS step deadlines, and never less than NONCE_TTL_MS', () => {
    expect(NONCE_TTL_MS).toBe(NONCE_TTL_STEPS * STEP_TIMEOUT_MS)
    expect(nonceLifetimeMs()).toBe(NONCE_TTL_MS)
    expect(nonceLifetimeMs(400)).toBe(NONCE_TTL_MS)
    expect(nonceLifetimeMs(20_000)).toBe(60_000)
    expect(nonceLifetimeMs(120_000)).toBe(360_000)
    const clock = testClock(T0)
    const store = new NonceStore({ clock, ttlMs: nonceLifetimeMs(20_000) })
    expect(store.lifetimeMs).toBe(60_000)
    const n = store.issue()
    clock.advance(2 * 20_000 + 5_000) // two full steps and more: still fresh
    expect(store.consume(n)).toBe('ok')
  })

  it('remembers accepted proofs until they expire', () => {
    const clock = testClock(T0)
    const set = new ReplaySet({ clock, max: 3 })
    set.add('a', T0 + 1000)
    expect(set.has('a')).toBe(true)
    clock.advance(1000)
    expect(set.has('a')).toBe(false)
    for (const id of ['b', 'c', 'd', 'e']) set.add(id, T0 + 60_000)
    expect(set.size).toBe(3)
    expect(set.has('e')).toBe(true)
  })
})

describe('limits', () => {
  it('a token bucket per peer, by the clock; concurrency per peer and overall', () => {
    const clock = testClock(T0)
    const limiter = new HandshakeLimiter({ burst: 3, perPeerPerMinute: 6, maxConcurrentPerPeer: 2, maxConcurrent: 4 }, clock)
    const take = (peer: string): string => {
      const permit = limiter.inbound(peer)
      if ('refused' in permit) return permit.refused
      permit.release()
      return 'ok'
    }
    expect(['a', 'a', 'a', 'a'].map(take)).toEqual(['ok', 'ok', 'ok', 'rate_limited'])
    const first = limiter.inbound('b')
    expect('refused' in first ? first : undefined).toBeUndefined()
    clock.advance(10_000) // 6 per minute: one token
    expect(take('a')).toBe('ok')
    expect(take('a')).toBe('rate_limited')
    expect(take('c')).toBe('ok')

    const held = [limiter.inbound('d'), limiter.inbound('d')]
    expect(limiter.inbound('d')).toMatchObject({ refused: 'too_many_handshakes' })
    held.push(limiter.inbound('e'))
    expect(limiter.active).toBe(4)
    expect(limiter.inbound('g')).toMatchObject({ refused: 'busy' })
    for (const permit of [...held, first]) if (!('refused' in permit)) permit.release()
    expect(limiter.active).toBe(0)
    expect(take('g')).toBe('ok')
  })

  it('outbound handshakes have a budget of their own: a full inbound budget does not block them, nor the reverse', () => {
    const limiter = new HandshakeLimiter({ maxConcurrent: 2, maxConcurrentPerPeer: 1 }, testClock(T0), { maxOutbound: 2 })
    const inbound = [limiter.inbound('x'), limiter.inbound('y')]
    expect(limiter.inbound('z')).toMatchObject({ refused: 'busy' })
    const outbound = [limiter.outbound(), limiter.outbound()]
    expect(outbound.every(p => !('refused' in p))).toBe(true)
    expect(limiter.outbound()).toMatchObject({ refused: 'busy' })
    expect([limiter.active, limiter.activeInbound, limiter.activeOutbound]).toEqual([4, 2, 2])
    for (const permit of [...inbound, ...outbound]) if (!('refused' in permit)) permit.release()
    expect(limiter.active).toBe(0)
    expect(new HandshakeLimiter().maxOutbound).toBe(MAX_CONCURRENT_OUTBOUND_HANDSHAKES)
  })

  it('a flood is logged once per emptied bucket', () => {
    const limiter = new HandshakeLimiter({ burst: 1, perPeerPerMinute: 1 }, testClock(T0))
    const first = limiter.inbound('f')
    if (!('refused' in first)) first.release()
    expect(limiter.inbound('f')).toMatchObject({ refused: 'rate_limited', firstRefusal: true })
    expect(limiter.inbound('f')).toMatchObject({ refused: 'rate_limited', firstRefusal: false })
  })
})

describe('the registry', () => {
  it('adds, replaces, ends on document change and expires sessions, with events', () => {
    const clock = testClock(T0)
    const registry = new PeerRegistry({ clock, lifetimeMs: 60_000 })
    const events: string[] = []
    registry.addEventListener('authenticated', e => { events.push(`+${(e as CustomEvent<{ did: string }>).detail.did}`) })
    registry.addEventListener('ended', e => { events.push(`-${(e as CustomEvent<{ reason: string }>).detail.reason}`) })
    const session = registry.add({ peerId: 'p1', did: 'did:ipid:a', keyId: 'did:ipid:a#auth-1', versionId: 'v1', source: 'network' })
    expect(session).toMatchObject({ verifiedAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T00:01:00Z' })
    registry.add({ peerId: 'p1', did: 'did:ipid:b', keyId: 'did:ipid:b#auth-1', versionId: 'v7' })
    registry.documentChanged('did:ipid:b', 'v7')
    registry.add({ peerId: 'p2', did: 'did:ipid:b', keyId: 'did:ipid:b#auth-1', versionId: 'v7' })
    registry.documentChanged('did:ipid:b', 'v8')
    expect(registry.list()).toEqual([])
    registry.add({ peerId: 'p3', did: 'did:ipid:c', keyId: 'did:ipid:c#auth-1' })
    clock.advance(60_000)
    expect(registry.get('p3')).toBeUndefined()
    expect(events).toEqual(['+did:ipid:a', '-replaced', '+did:ipid:b', '+did:ipid:b', '-document_changed', '-document_changed', '+did:ipid:c', '-expired'])
  })

  it('ends a session when the connection it was proved on closes, not when another one does', () => {
    const registry = new PeerRegistry({ clock: testClock(T0) })
    const ended: string[] = []
    registry.addEventListener('ended', e => { const { session, reason } = (e as CustomEvent<{ session: { peerId: string }, reason: string }>).detail; ended.push(`${session.peerId}:${reason}`) })
    registry.add({ peerId: 'p1', did: 'did:ipid:a', keyId: 'did:ipid:a#auth-1' }, { connectionId: 'c1' })
    registry.add({ peerId: 'p2', did: 'did:ipid:b', keyId: 'did:ipid:b#auth-1' }, { connectionId: 'c2' })
    expect(registry.connectionOf('p1')).toBe('c1')
    registry.connectionClosed('c3')
    expect(registry.size).toBe(2)
    // A renewal on another connection moves the session there.
    registry.add({ peerId: 'p1', did: 'did:ipid:a', keyId: 'did:ipid:a#auth-1' }, { connectionId: 'c4' })
    registry.connectionClosed('c1')
    expect(registry.get('p1')).toBeDefined()
    registry.connectionClosed('c4')
    expect(registry.get('p1')).toBeUndefined()
    expect(ended).toEqual(['p1:disconnected'])
  })

  it('prune() ends expired sessions, with their events, without anyone reading the registry', () => {
    const clock = testClock(T0)
    const registry = new PeerRegistry({ clock, lifetimeMs: 60_000 })
    const ended: string[] = []
    registry.addEventListener('ended', e => { ended.push((e as CustomEvent<{ reason: string }>).detail.reason) })
    registry.add({ peerId: 'p1', did: 'did:ipid:a', keyId: 'did:ipid:a#auth-1' })
    clock.advance(30_000)
    registry.add({ peerId: 'p2', did: 'did:ipid:b', keyId: 'did:ipid:b#auth-1' })
    clock.advance(30_000)
    registry.prune()
    expect(ended).toEqual(['expired'])
    expect(registry.size).toBe(1)
    clock.advance(30_000)
    registry.prune()
    expect(ended).toEqual(['expired', 'expired'])
    expect(registry.size).toBe(0)
  })
})

describe('internal errors', () => {
  it('keep their cause for the debug log, without proofs, nonces or key material, and bounded', async () => {
    const failure = asDidAuthError(new TypeError('cannot read properties of undefined (reading \'sign\')'))
    expect(failure).toMatchObject({ reason: 'internal_error', message: 'the handshake failed unexpectedly' })
    expect(describeCause(failure)).toBe('TypeError: cannot read properties of undefined (reading \'sign\')')
    const id = await testIdentity(7250)
    const jwt = await createProof(fixtureSigner(id.did, id.auth[0]!), { audience: id.did, nonce: newNonce(), initiator: 'a', responder: 'b', role: 'initiator' }, T0)
    const nonce = newNonce()
    const leaky = describeCause(asDidAuthError(new Error(`bad ${jwt} over ${nonce} with ${'ab'.repeat(32)} for ${id.did}`)))
    expect(leaky).toBe(`Error: bad [jwt] over [nonce] with [hex] for ${id.did}`)
    expect(describeCause(asDidAuthError(new Error('x'.repeat(10_000))))).toHaveLength(MAX_LOGGED_CAUSE_CHARS)
    expect(describeCause(new DidAuthError('internal_error', 'hello() was not called'))).toBe('hello() was not called')
  })
})

describe('configuration', () => {
  it('auth settings from the environment and flags (limits merge member by member), validated', () => {
    const env = { HOME: '/h', IPIDD_AUTH_IDENTITY: 'alice', IPIDD_AUTH_REQUIRE_PROOF: 'yes', IPIDD_AUTH_AUTO: 'on' }
    const auth = loadConfig({ env, flags: { auth: { limits: { burst: 50 } } } }).auth
    expect(auth).toEqual({ identity: 'alice', requirePeerProof: true, autoAuthenticate: true, stepTimeoutMs: 10_000, limits: { maxConcurrent: 64, maxConcurrentPerPeer: 2, perPeerPerMinute: 30, burst: 50 } })
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_AUTH_AUTO: 'sometimes' } })).toThrow(/IPIDD_AUTH_AUTO/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_AUTH_IDENTITY: 'Not A Name' } })).toThrow(/auth\.identity/)
    expect(() => loadConfig({ env: { HOME: '/h' }, flags: { auth: { stepTimeoutMs: 5 } } })).toThrow(/auth\.stepTimeoutMs/)
    expect(() => loadConfig({ env: { HOME: '/h' }, flags: { auth: { limits: { perPeerPerMinute: 0 } } } })).toThrow(/auth\.limits\.perPeerPerMinute/)
  })
})

describe('proofs', async () => {
  const id = await testIdentity(7210)
  const signer = fixtureSigner(id.did, id.auth[0]!)
  const initiator = peerIdFromPrivateKey(await seededKey(7220)).toString()
  const responder = peerIdFromPrivateKey(await seededKey(7221)).toString()
  const verifierDid = (await testIdentity(7230)).did
  const nonce = newNonce()
  const nowMs = T0 + 3_600_000
  const resolved = (document: DidDocument, metadata: Record<string, unknown> = {}): DidResolutionResult => ({
    didDocument: document,
    didResolutionMetadata: { contentType: 'application/did+ld+json', source: 'network' },
    didDocumentMetadata: { versionId: 'bafyreiexample', deactivated: false, ...metadata }
  })
  const current = resolved(documentWithAuthKey(id.did, id.auth[0]!))
  const options = (overrides: Partial<VerifyProofOptions> = {}): VerifyProofOptions => ({
    expected: { issuer: id.did, audience: verifierDid, nonce, initiator, responder, role: 'initiator' },
    nowMs,
    resolve: async () => current,
    ...overrides
  })
  const proof = async (binding: Partial<{ audience: string, nonce: string, initiator: string, responder: string, role: 'initiator' | 'responder' }> = {}, at = nowMs, by = signer): Promise<string> =>
    createProof(by, { audience: verifierDid, nonce, initiator, responder, role: 'initiator', ...binding }, at)
  /** A JWT signed by the prover's key over any claims (to break the claim set on purpose). */
  const rawProof = async (claims: Record<string, unknown>): Promise<string> => {
    const iat = Math.floor(nowMs / 1000)
    return createJWT({ iat, exp: iat + 60, aud: verifierDid, nonce, initiator, responder, ...claims }, {
      issuer: id.did,
      alg: 'EdDSA',
      signer: async data => base64url.baseEncode(await id.auth[0]!.sign(typeof data === 'string' ? new TextEncoder().encode(data) : data))
    }, { kid: `${id.did}#auth-1` })
  }

  it('is a compact EdDSA JWT with exactly the claim set, kid the verification method', async () => {
    const { header, claims } = decodeProof(await proof())
    expect(header).toEqual({ kid: `${id.did}#auth-1`, typ: 'JWT', alg: 'EdDSA' })
    const iat = Math.floor(nowMs / 1000)
    expect(claims).toEqual({ iat, exp: iat + PROOF_LIFETIME_MS / 1000, aud: verifierDid, nonce, initiator, responder, role: 'initiator', iss: id.did })
  })

  it('verifies, once', async () => {
    const replay = new ReplaySet({ clock: () => nowMs })
    const jwt = await proof()
    expect(await verifyProof(jwt, options({ replay }))).toMatchObject({ did: id.did, keyId: `${id.did}#auth-1`, versionId: 'bafyreiexample', source: 'network', stale: false })
    expect(await rejection(verifyProof(jwt, options({ replay })))).toBe('replayed_proof')
  })

  it('refuses each defect with its reason', async () => {
    const other = await testIdentity(7240)
    const cases: Array<[string, Promise<unknown>]> = [
      ['bad_proof', verifyProof('a.b.c', options())],
      ['bad_proof', verifyProof((await proof()).replace(/\.[^.]+$/, '.AAAA'), options())],
      ['wrong_issuer', verifyProof(await proof({}, nowMs, fixtureSigner(other.did, other.auth[0]!)), options())],
      ['wrong_audience', verifyProof(await proof({ audience: initiator }), options())],
      ['wrong_peer', verifyProof(await proof({ initiator: responder, responder: initiator }), options())],
      ['wrong_peer', verifyProof(await proof({ responder: initiator }), options())],
      // the responder's proof offered as the initiator's (the reflection): everything else matches
      ['wrong_role', verifyProof(await proof({ role: 'responder' }), options())],
      ['wrong_role', verifyProof(await proof(), options({ expected: { ...options().expected, role: 'responder' } }))],
      // the claim set is strict: the role is required, and one of the two
      ['bad_proof', verifyProof(await rawProof({}), options())],
      ['bad_proof', verifyProof(await rawProof({ role: 'observer' }), options())],
      ['bad_proof', verifyProof(await rawProof({ role: 'initiator', extra: true }), options())],
      ['expired_proof', verifyProof(await proof({}, nowMs - PROOF_LIFETIME_MS - CLOCK_SKEW_MS), options())],
      ['proof_not_yet_valid', verifyProof(await proof({}, nowMs + CLOCK_SKEW_MS + 1000), options())],
      ['wrong_nonce', verifyProof(await proof({ nonce: newNonce() }), options())],
      ['wrong_nonce', verifyProof(await proof(), options({ consumeNonce: () => 'unknown' }))],
      ['expired_nonce', verifyProof(await proof(), options({ consumeNonce: () => 'expired' }))],
      ['unresolvable', verifyProof(await proof(), options({ resolve: async () => errorResult(new IpidError('notFound', 'no_record', 'none')) }))],
      ['deactivated', verifyProof(await proof(), options({ resolve: async () => resolved({ '@context': ['https://www.w3.org/ns/did/v1'], id: id.did }, { deactivated: true }) }))],
      ['not_authentication_key', verifyProof(await proof(), options({ resolve: async () => resolved(documentWithKey(id.did, id.auth[0]!, 'auth-1', ['assertionMethod'])) }))],
      ['not_authentication_key', verifyProof(await proof(), options({ resolve: async () => resolved(documentWithKey(id.did, id.auth[1]!, 'auth-2', ['authentication'])) }))],
      // kid names auth-1, which the document lists, but another key signed.
      ['bad_signature', verifyProof(await proof({}, nowMs, { ...signer, sign: async data => id.auth[1]!.sign(data) }), options())]
    ]
    for (const [index, [reason, run]] of cases.entries()) expect(await rejection(run), `case ${index}`).toBe(reason)
    expect(await rejection(verifyProof(await rawProof({ role: 'initiator' }), options()))).toBeUndefined()
    // Within the skew either way, a proof is still good.
    expect(await rejection(verifyProof(await proof({}, nowMs + CLOCK_SKEW_MS - 1000), options()))).toBeUndefined()
  })
})

describe('the state machines refuse a reflected nonce', async () => {
  const bob = await testIdentity(7260)
  const bobSigner = fixtureSigner(bob.did, bob.auth[0]!)
  const victim = peerIdFromPrivateKey(await seededKey(7270)).toString()
  const attacker = peerIdFromPrivateKey(await seededKey(7271)).toString()
  const clock = testClock(T0)
  const current: DidResolutionResult = {
    didDocument: documentWithAuthKey(bob.did, bob.auth[0]!),
    didResolutionMetadata: { contentType: 'application/did+ld+json', source: 'network' },
    didDocumentMetadata: { versionId: 'bafyreiexample', deactivated: false }
  }
  // One node's state, shared by its handshakes: its nonce store and replay set.
  const nonces = new NonceStore({ clock })
  const deps: HandshakeDeps = { clock, resolve: async () => current, nonces, replay: new ReplaySet({ clock }), signer: bobSigner }

  it('a responder will not sign over a nonce it issued and still holds (reflected_nonce); the first handshake stays usable', async () => {
    const parties = { initiator: attacker, responder: victim }
    const first = new Responder(parties, deps, { requirePeerProof: false })
    const challenge = await first.onHello({ type: 'hello', version: 1, did: bob.did, nonce: newNonce(), wantProof: true })
    const second = new Responder(parties, deps, { requirePeerProof: false })
    expect(await rejection(second.onHello({ type: 'hello', version: 1, did: bob.did, nonce: challenge.nonce, wantProof: true }))).toBe('reflected_nonce')
    second.end()
    // The proof the victim made as responder does not pass as the initiator's either.
    expect(await rejection(first.onProof({ type: 'proof', proof: challenge.proof! }))).toBe('wrong_role')
    first.end()
    expect(nonces.size).toBe(0)
  })

  it('an initiator will not sign over its own nonce sent back as the challenge\'s (reflected_nonce)', async () => {
    const initiator = new Initiator({ initiator: victim, responder: attacker }, deps, { wantProof: false })
    const hello = initiator.hello()
    expect(await rejection(initiator.onChallenge({ type: 'challenge', nonce: hello.nonce }))).toBe('reflected_nonce')
    initiator.end()
  })
})
