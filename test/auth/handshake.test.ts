/**
 * DIDAuth between real libp2p nodes on 127.0.0.1 (issue 6, acceptance). Six stacks in a mesh, each a node, a
 * resolver over it and a DidAuthService: A (alice), B (bob; the verifier attacked, with the default limits),
 * C (carol), M (no identity; the attacker, the relay and the reflector), F (no identity; the flooder) and P (the
 * publisher of every document, and the
 * prover of the identities the attacks need: `rot` whose key is rotated away, `dead` which is deactivated,
 * `asrt` whose key is listed only under assertionMethod). Every attack is followed by an honest handshake.
 * One clock for all, moved a minute before each test (so rate-limit buckets refill between tests).
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/log.ts'
import { HANDSHAKE_BURST } from '../../src/auth/limits.ts'
import { DIDAUTH_PROTOCOL } from '../../src/auth/messages.ts'
import { newNonce } from '../../src/auth/nonces.ts'
import { createProof } from '../../src/auth/proof.ts'
import { FramedStream } from '../../src/auth/framing.ts'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import { documentWithAuthKey, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { eventually, publishVersion } from '../helpers/network.ts'
import { STEP_TIMEOUT_MS } from '../../src/auth/framing.ts'
import { connectAll, counter, documentWithKey, fixtureSigner, nextEvent, openRaw, startAuthStack, testClock } from '../helpers/didauth.ts'
import type { ChallengeMessage, OutcomeMessage, ProofMessage } from '../../src/auth/messages.ts'
import type { DidAuthSigner } from '../../src/auth/proof.ts'
import type { PeerSession, SessionEnded } from '../../src/auth/registry.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { DidDocument } from '../../src/did/document.ts'
import type { AuthStack } from '../helpers/didauth.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'
import type { Stream } from '@libp2p/interface'

const clock = testClock()
/** B's log lines: refusals must be logged, and nothing in them may be a proof or a nonce. */
const bLog: string[] = []
const bLogger = createLogger('debug', new Writable({ write (chunk: Buffer, _encoding, done) { bLog.push(chunk.toString()); done() } }))
let A: AuthStack, B: AuthStack, C: AuthStack, M: AuthStack, F: AuthStack, P: AuthStack
let alice: TestIdentity, bob: TestIdentity, carol: TestIdentity, rot: TestIdentity, dead: TestIdentity, asrt: TestIdentity
const heads = new Map<string, DecodedVersionNode>()
let aliceSigner: DidAuthSigner

async function publishFirst (id: TestIdentity, document: DidDocument): Promise<void> {
  const v1 = await createFirstVersion({ document, updateKeys: [multikeyOf(id.update[0]!)] }, id.root, clock())
  heads.set(id.did, v1)
  await publishVersion(P.node, id.root, v1, { nowMs: clock() })
}

async function publishNext (id: TestIdentity, content: { document: DidDocument } | { deactivate: true }): Promise<DecodedVersionNode> {
  const prev = heads.get(id.did)!
  const next = await createNextVersion(prev, 'deactivate' in content ? content : { ...content, updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, clock())
  heads.set(id.did, next)
  await publishVersion(P.node, id.root, next, { nowMs: clock() })
  return next
}

/** Resolves on `stack` (asking the network) until it serves `versionId`. */
async function learn (stack: AuthStack, did: string, versionId: string): Promise<void> {
  await eventually(async () => {
    const result = await stack.resolver.resolve(did, { noCache: true })
    return result.didDocumentMetadata.versionId === versionId ? result : undefined
  })
}

/** One handshake spoken by hand from `from` to `to`: the hello, then whatever `answer` makes of the challenge. */
async function scripted (from: AuthStack, to: AuthStack, did: string | undefined, answer: (challenge: ChallengeMessage) => Promise<ProofMessage>): Promise<OutcomeMessage> {
  const framed = await openRaw(from.libp2p, to.peerId)
  try {
    await framed.write({ type: 'hello', version: 1, ...(did === undefined ? {} : { did }), nonce: newNonce(), wantProof: true })
    const challenge = await framed.read(['challenge', 'outcome'])
    if (challenge.type === 'outcome') return challenge
    await framed.write(await answer(challenge))
    return await framed.read(['outcome'])
  } finally {
    framed.abort('stream_closed')
  }
}

/** What an honest alice would answer B's challenge with (on A's connection to B), with `overrides`. */
async function aliceProof (challenge: ChallengeMessage, overrides: { audience?: string, nowMs?: number, signer?: DidAuthSigner } = {}): Promise<string> {
  return createProof(overrides.signer ?? aliceSigner, {
    audience: overrides.audience ?? challenge.did ?? B.peerId,
    nonce: challenge.nonce,
    initiator: A.peerId,
    responder: B.peerId,
    role: 'initiator'
  }, overrides.nowMs ?? clock())
}

/** The honest handshake that must still work after each attack: A authenticates B, and B registers alice. */
async function honest (): Promise<void> {
  const session = await A.service.authenticate(B.peerId)
  expect(session.did).toBe(bob.did)
  expect(B.service.registry.get(A.peerId)?.did).toBe(alice.did)
}

/** A frame with any payload, as raw bytes (varint length, then the bytes). */
function frame (payload: Uint8Array | string, declaredLength?: number): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload
  let n = declaredLength ?? bytes.byteLength
  const prefix: number[] = []
  while (n >= 0x80) { prefix.push((n & 0x7f) | 0x80); n = Math.floor(n / 0x80) }
  prefix.push(n)
  return new Uint8Array([...prefix, ...bytes])
}

beforeAll(async () => {
  ;[alice, bob, carol, rot, dead, asrt] = await Promise.all([7000, 7010, 7020, 7030, 7040, 7050].map(async base => testIdentity(base))) as [TestIdentity, TestIdentity, TestIdentity, TestIdentity, TestIdentity, TestIdentity]
  aliceSigner = fixtureSigner(alice.did, alice.auth[0]!)
  ;[A, B, C, M, F, P] = await Promise.all([
    startAuthStack({ clock, signer: aliceSigner }),
    startAuthStack({ clock, signer: fixtureSigner(bob.did, bob.auth[0]!), logger: bLogger }),
    startAuthStack({ clock, signer: fixtureSigner(carol.did, carol.auth[0]!) }),
    startAuthStack({ clock }),
    startAuthStack({ clock }),
    startAuthStack({ clock })
  ])
  P.signers.set('rot', fixtureSigner(rot.did, rot.auth[0]!))
  P.signers.set('dead', fixtureSigner(dead.did, dead.auth[0]!))
  P.signers.set('asrt', fixtureSigner(asrt.did, asrt.auth[0]!))
  await connectAll([A, B, C, M, F, P])
  for (const id of [alice, bob, carol, rot, dead]) await publishFirst(id, documentWithAuthKey(id.did, id.auth[0]!))
  await publishFirst(asrt, documentWithKey(asrt.did, asrt.auth[0]!, 'auth-1', ['assertionMethod']))
})

afterAll(async () => {
  await Promise.allSettled([A, B, C, M, F, P].filter(s => s !== undefined).map(async s => s.stop()))
})

beforeEach(() => { clock.advance(61_000) })

describe('DIDAuth between real nodes', () => {
  it('A and B authenticate each other both ways; each registry shows the other\'s DID, key and version', async () => {
    const ofBob = await A.service.authenticate(B.address)
    expect(ofBob).toMatchObject({ peerId: B.peerId, did: bob.did, keyId: `${bob.did}#auth-1`, versionId: heads.get(bob.did)!.cid.toString() })
    expect(['network', 'pubsub']).toContain(ofBob.source)
    expect(B.service.registry.get(A.peerId)).toMatchObject({ peerId: A.peerId, did: alice.did, keyId: `${alice.did}#auth-1`, versionId: heads.get(alice.did)!.cid.toString() })

    const ofAlice = await B.service.authenticate(A.peerId)
    expect(ofAlice.did).toBe(alice.did)
    expect(A.service.registry.list()).toEqual([expect.objectContaining({ peerId: B.peerId, did: bob.did })])
    expect(Date.parse(ofAlice.expiresAt) - Date.parse(ofAlice.verifiedAt)).toBe(60 * 60 * 1000)
    expect(await counter(B.metrics, 'ipidd_didauth_handshakes_total', { role: 'responder', outcome: 'ok' })).toBe(1)
    expect(await counter(B.metrics, 'ipidd_didauth_handshakes_total', { role: 'initiator', outcome: 'ok' })).toBe(1)
  })

  it('a replayed proof is refused (replayed_proof)', async () => {
    let captured = ''
    const first = await scripted(A, B, alice.did, async challenge => {
      captured = await aliceProof(challenge)
      return { type: 'proof', proof: captured }
    })
    expect(first).toEqual({ type: 'outcome', ok: true })
    const again = await scripted(A, B, alice.did, async () => ({ type: 'proof', proof: captured }))
    expect(again).toEqual({ type: 'outcome', ok: false, reason: 'replayed_proof' })
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'replayed_proof' })).toBe(1)
    await honest()
  })

  it('a relaying man-in-the-middle is caught by the PeerId binding, on either side (wrong_peer)', async () => {
    // M stops answering DIDAuth itself and relays instead: A → M → B.
    await M.service.stop()
    try {
      await M.libp2p.handle(DIDAUTH_PROTOCOL, async (stream: Stream) => {
        const fromA = new FramedStream(stream)
        const toB = await openRaw(M.libp2p, B.peerId)
        try {
          await toB.write(await fromA.read(['hello']))
          await fromA.write(await toB.read(['challenge', 'outcome']))
          await toB.write(await fromA.read(['proof']))
          await fromA.write(await toB.read(['outcome']))
        } catch {
          fromA.abort('stream_closed')
          toB.abort('stream_closed')
        }
      })
      // A asked M to prove itself and got bob's proof, made for the connection M ↔ B.
      await expect(A.service.authenticate(M.peerId)).rejects.toMatchObject({ reason: 'wrong_peer', remote: false })
      expect(await counter(A.metrics, 'ipidd_didauth_refused_total', { reason: 'wrong_peer' })).toBe(1)
      expect(A.service.registry.get(M.peerId)).toBeUndefined()

      // The other way: M claims alice to B and has A sign over B's nonce (claiming bob to A); B sees responder A, not itself.
      const toB = await openRaw(M.libp2p, B.peerId)
      await toB.write({ type: 'hello', version: 1, did: alice.did, nonce: newNonce(), wantProof: true })
      const challengeOfB = await toB.read(['challenge'])
      const toA = await openRaw(M.libp2p, A.peerId)
      await toA.write({ type: 'hello', version: 1, did: bob.did, nonce: challengeOfB.nonce, wantProof: true })
      const challengeOfA = await toA.read(['challenge'])
      expect(challengeOfA.did).toBe(alice.did)
      toA.abort('stream_closed')
      await toB.write({ type: 'proof', proof: challengeOfA.proof! })
      expect(await toB.read(['outcome'])).toEqual({ type: 'outcome', ok: false, reason: 'wrong_peer' })
      expect(B.service.registry.get(M.peerId)).toBeUndefined()
    } finally {
      await M.libp2p.unhandle(DIDAUTH_PROTOCOL)
      await M.service.start()
    }
    await honest()
  })

  it('a reflection of the verifier\'s own challenge is refused (reflected_nonce, then wrong_role); another device of the same DID still authenticates', async () => {
    // Handshake 1: M claims bob's own DID to B and asks B to prove itself; B answers with its nonce R1.
    const first = await openRaw(M.libp2p, B.peerId)
    const second = await openRaw(M.libp2p, B.peerId)
    try {
      await first.write({ type: 'hello', version: 1, did: bob.did, nonce: newNonce(), wantProof: true })
      const challenge = await first.read(['challenge'])
      expect(challenge.did).toBe(bob.did)
      // Handshake 2, same connection, same roles: R1 as M's own nonce, asking B to prove itself over it. B would
      // sign over its own challenge (aud bob, initiator M, responder B): it refuses.
      await second.write({ type: 'hello', version: 1, did: bob.did, nonce: challenge.nonce, wantProof: true })
      expect(await second.read(['challenge', 'outcome'])).toEqual({ type: 'outcome', ok: false, reason: 'reflected_nonce' })
      // All M holds of B's signature is the proof B made as responder in handshake 1: it does not pass as an
      // initiator's proof (issuer, audience and PeerIds would all match; the role does not).
      await first.write({ type: 'proof', proof: challenge.proof! })
      expect(await first.read(['outcome'])).toEqual({ type: 'outcome', ok: false, reason: 'wrong_role' })
    } finally {
      first.abort('stream_closed')
      second.abort('stream_closed')
    }
    expect(B.service.registry.get(M.peerId)).toBeUndefined()
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'reflected_nonce' })).toBe(1)
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'wrong_role' })).toBe(1)

    // Two devices of one identity are legitimate: P, holding bob's key too, proves bob to B, and B proves bob to P.
    P.signers.set('bob', fixtureSigner(bob.did, bob.auth[0]!))
    expect((await P.service.authenticate(B.peerId, { as: 'bob' })).did).toBe(bob.did)
    expect(B.service.registry.get(P.peerId)?.did).toBe(bob.did)
    await honest()
  })

  it('a proof for another audience is refused (wrong_audience)', async () => {
    const outcome = await scripted(A, B, alice.did, async challenge => ({ type: 'proof', proof: await aliceProof(challenge, { audience: carol.did }) }))
    expect(outcome).toEqual({ type: 'outcome', ok: false, reason: 'wrong_audience' })
    await honest()
  })

  it('an expired proof is refused (expired_proof)', async () => {
    const outcome = await scripted(A, B, alice.did, async challenge => ({ type: 'proof', proof: await aliceProof(challenge, { nowMs: clock() - 10 * 60_000 }) }))
    expect(outcome).toEqual({ type: 'outcome', ok: false, reason: 'expired_proof' })
    const future = await scripted(A, B, alice.did, async challenge => ({ type: 'proof', proof: await aliceProof(challenge, { nowMs: clock() + 10 * 60_000 }) }))
    expect(future).toEqual({ type: 'outcome', ok: false, reason: 'proof_not_yet_valid' })
    await honest()
  })

  it('a key rotated away no longer authenticates (not_authentication_key); the session on the old version ends', async () => {
    const before = await P.service.authenticate(B.peerId, { as: 'rot' })
    expect(B.service.registry.get(P.peerId)).toMatchObject({ did: rot.did, versionId: heads.get(rot.did)!.cid.toString() })
    expect(before.did).toBe(bob.did)

    const ended = nextEvent<SessionEnded>(B.service.registry, 'ended', e => e.session.peerId === P.peerId)
    const v2 = await publishNext(rot, { document: documentWithKey(rot.did, rot.auth[1]!, 'auth-2', ['authentication']) })
    await learn(B, rot.did, v2.cid.toString())
    expect(await ended).toMatchObject({ reason: 'document_changed', session: { did: rot.did } })
    expect(B.service.registry.get(P.peerId)).toBeUndefined()

    await expect(P.service.authenticate(B.peerId, { as: 'rot' })).rejects.toMatchObject({ reason: 'not_authentication_key', remote: true })
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'not_authentication_key' })).toBe(1)

    P.signers.set('rot', fixtureSigner(rot.did, rot.auth[1]!, 'auth-2'))
    await P.service.authenticate(B.peerId, { as: 'rot' })
    expect(B.service.registry.get(P.peerId)).toMatchObject({ did: rot.did, keyId: `${rot.did}#auth-2`, versionId: v2.cid.toString() })
    await honest()
  })

  it('a deactivated DID does not authenticate (deactivated)', async () => {
    const v2 = await publishNext(dead, { deactivate: true })
    await learn(B, dead.did, v2.cid.toString())
    await expect(P.service.authenticate(B.peerId, { as: 'dead' })).rejects.toMatchObject({ reason: 'deactivated', remote: true })
    await honest()
  })

  it('a key listed only under assertionMethod does not authenticate (not_authentication_key)', async () => {
    await expect(P.service.authenticate(B.peerId, { as: 'asrt' })).rejects.toMatchObject({ reason: 'not_authentication_key', remote: true })
    await honest()
  })

  it('a DID that cannot be resolved fails with a clear reason (unresolvable)', async () => {
    const nobody = await testIdentity(7060)
    P.signers.set('nobody', fixtureSigner(nobody.did, nobody.auth[0]!))
    const refusal = P.service.authenticate(B.peerId, { as: 'nobody' })
    await expect(refusal).rejects.toMatchObject({ reason: 'unresolvable', remote: true })
    await honest()
  })

  it('garbage, unknown members, truncated and oversized messages are refused, and the stream closed', async () => {
    const refusal = async (send: (framed: FramedStream) => Promise<void>): Promise<OutcomeMessage> => {
      const framed = await openRaw(M.libp2p, B.peerId)
      try {
        await send(framed)
        return await framed.read(['outcome'])
      } finally {
        framed.abort('stream_closed')
      }
    }
    expect(await refusal(async f => { f.sendRaw(frame('this is not json')) })).toMatchObject({ ok: false, reason: 'bad_message' })
    expect(await refusal(async f => { f.sendRaw(frame(new Uint8Array([0xff, 0xfe, 0x00]))) })).toMatchObject({ ok: false, reason: 'bad_message' })
    expect(await refusal(async f => { f.sendRaw(frame(JSON.stringify({ type: 'hello', version: 1, nonce: newNonce(), wantProof: true, extra: 1 }))) })).toMatchObject({ ok: false, reason: 'bad_message' })
    expect(await refusal(async f => { f.sendRaw(frame(JSON.stringify({ type: 'proof' }))) })).toMatchObject({ ok: false, reason: 'bad_message' })
    expect(await refusal(async f => { f.sendRaw(frame(JSON.stringify({ type: 'hello', version: 2, nonce: newNonce(), wantProof: false }))) })).toMatchObject({ ok: false, reason: 'unsupported_version' })
    expect(await refusal(async f => {
      f.sendRaw(frame('{"type":"hello","vers', 100))
      await f.stream.close()
    })).toMatchObject({ ok: false, reason: 'truncated_message' })
    expect(await refusal(async f => { f.sendRaw(frame(new Uint8Array(64), 9000)) })).toMatchObject({ ok: false, reason: 'oversized_message' })
    // A bad proof message after a good hello: a proof that is not a JWT of the claim set.
    expect(await scripted(M, B, alice.did, async () => ({ type: 'proof', proof: 'a.b.c' }))).toMatchObject({ ok: false, reason: 'bad_proof' })
    for (const reason of ['bad_message', 'unsupported_version', 'truncated_message', 'oversized_message', 'bad_proof']) {
      expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason }), reason).toBeGreaterThan(0)
    }
    await eventually(async () => B.service.activeHandshakes === 0 ? true : undefined)
    await honest()
  })

  it('a parallel flood from one peer is refused (rate_limited, and too_many_handshakes where they overlap) while another peer authenticates in the middle of it', async () => {
    const connection = F.libp2p.getConnections().find(c => c.remotePeer.toString() === B.peerId && c.status === 'open')!
    const refusedBefore = {
      rate_limited: await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'rate_limited' }),
      too_many_handshakes: await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'too_many_handshakes' })
    }
    const logFrom = bLog.length
    // FLOOD_LOOPS handshakes in flight at once from F (three times B's per-peer limit, within the streams one
    // connection may carry), each loop going on until C is through and it made FLOOD_ROUNDS attempts.
    const FLOOD_LOOPS = 6
    const FLOOD_ROUNDS = 8
    const outcomes: string[] = []
    let carolThrough = false
    const attempt = async (): Promise<string> => F.service.authenticateConnection(connection, { wantProof: false }).then(() => 'ok', (err: { reason: string }) => err.reason)
    const flood = Promise.all(Array.from({ length: FLOOD_LOOPS }, async () => {
      for (let round = 0; !carolThrough || round < FLOOD_ROUNDS; round++) outcomes.push(await attempt())
    }))
    // C starts once F is being refused; F floods on until C is done.
    await eventually(async () => outcomes.some(o => o !== 'ok') ? true : undefined)
    const duringFlood = outcomes.length
    const ofBob = await C.service.authenticate(B.peerId).finally(() => { carolThrough = true })
    await flood
    expect(ofBob.did).toBe(bob.did)
    expect(B.service.registry.get(C.peerId)?.did).toBe(carol.did)
    expect(outcomes.length).toBeGreaterThan(duringFlood) // the flood went on while C authenticated

    // B let through exactly one bucket of F's handshakes (the clock stands still), and refused the rest.
    const count = (outcome: string): number => outcomes.filter(o => o === outcome).length
    expect(outcomes.length).toBeGreaterThanOrEqual(FLOOD_LOOPS * FLOOD_ROUNDS)
    expect(count('ok')).toBe(HANDSHAKE_BURST)
    expect(count('rate_limited')).toBeGreaterThan(0)
    // Whether some of F's handshakes overlap beyond the per-peer limit (too_many_handshakes) depends on scheduling:
    // every outcome is one of the three, and B's metric counts each refusal by its reason.
    expect(count('ok') + count('rate_limited') + count('too_many_handshakes'), outcomes.join()).toBe(outcomes.length)
    // Every refusal counted by B, by its reason.
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'rate_limited' }) - refusedBefore.rate_limited).toBe(count('rate_limited'))
    expect(await counter(B.metrics, 'ipidd_didauth_refused_total', { reason: 'too_many_handshakes' }) - refusedBefore.too_many_handshakes).toBe(count('too_many_handshakes'))
    expect(await counter(F.metrics, 'ipidd_didauth_handshakes_total', { role: 'initiator', outcome: 'rejected' })).toBe(outcomes.length - HANDSHAKE_BURST)
    // …and logged at most once per kind of refusal (at info: the emptied bucket); the rest at debug only.
    const INFO = 30
    const floodLines = bLog.slice(logFrom).map(line => JSON.parse(line) as { level: number, msg: string, reason?: string, peer?: string })
      .filter(l => l.msg === 'DIDAuth handshake failed' && l.peer === F.peerId)
    expect(floodLines.length).toBe(count('rate_limited') + count('too_many_handshakes'))
    for (const reason of ['rate_limited', 'too_many_handshakes']) {
      expect(floodLines.filter(l => l.reason === reason && l.level >= INFO).length, reason).toBeLessThanOrEqual(1)
    }
    expect(floodLines.filter(l => l.reason === 'rate_limited' && l.level >= INFO)).toHaveLength(1)

    await eventually(async () => B.service.activeHandshakes === 0 ? true : undefined)
    await honest()
  })

  it('a session ends when the connection closes', async () => {
    await honest()
    const endedAtA = nextEvent<SessionEnded>(A.service.registry, 'ended', e => e.session.peerId === B.peerId)
    const endedAtB = nextEvent<SessionEnded>(B.service.registry, 'ended', e => e.session.peerId === A.peerId)
    await A.libp2p.hangUp(B.libp2p.peerId)
    expect(await endedAtA).toMatchObject({ reason: 'disconnected', session: { did: bob.did } })
    expect(await endedAtB).toMatchObject({ reason: 'disconnected', session: { did: alice.did } })
    expect(A.service.registry.get(B.peerId)).toBeUndefined()
    await A.node.dial(B.address)
    await honest()
  })

  it('refusals were logged with their reasons, and no log line holds a proof or a nonce', () => {
    const lines = bLog.map(line => JSON.parse(line) as { level: number, msg: string, reason?: string, peer?: string })
    const refusals = new Set(lines.filter(l => l.msg === 'DIDAuth handshake failed').map(l => l.reason))
    for (const reason of ['replayed_proof', 'wrong_peer', 'reflected_nonce', 'wrong_role', 'wrong_audience', 'expired_proof', 'not_authentication_key', 'deactivated', 'unresolvable', 'bad_message', 'oversized_message', 'rate_limited', 'too_many_handshakes']) {
      expect(refusals, reason).toContain(reason)
    }
    expect(lines.filter(l => l.msg === 'peer authenticated').length).toBeGreaterThan(0)
    const text = bLog.join('')
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10}/) // a JWT's header
    expect(text).not.toMatch(/"nonce"/)
    // A flood is logged once (info), not once per refused stream (the rest at debug).
    const INFO = 30
    expect(lines.filter(l => l.reason === 'rate_limited' && l.level >= INFO)).toHaveLength(1)
  })
})

describe('configured behaviour', () => {
  it('a silent peer is freed by the step deadline (timeout); a responder may require a proof; a peer without DIDAuth; new connections authenticated automatically', async () => {
    const S = await startAuthStack({ clock, signer: fixtureSigner(carol.did, carol.auth[0]!), stepTimeoutMs: 400, requirePeerProof: true })
    const D = await startAuthStack({ clock, autoAuthenticate: true })
    try {
      await connectAll([S, M, A])
      // Nothing at all, then a hello and nothing more: each step's deadline frees the responder.
      const started = Date.now()
      const silent = await openRaw(M.libp2p, S.peerId)
      expect(await silent.read(['outcome'])).toMatchObject({ ok: false, reason: 'timeout' })
      // Freed by this responder's 400 ms deadline, not the default one (a loaded machine may add seconds).
      expect(Date.now() - started).toBeLessThan(STEP_TIMEOUT_MS)
      const halfway = await openRaw(A.libp2p, S.peerId)
      await halfway.write({ type: 'hello', version: 1, did: alice.did, nonce: newNonce(), wantProof: false })
      await halfway.read(['challenge'])
      expect(await halfway.read(['outcome'])).toMatchObject({ ok: false, reason: 'timeout' })
      expect(await counter(S.metrics, 'ipidd_didauth_refused_total', { reason: 'timeout' })).toBe(2)
      await eventually(async () => S.service.activeHandshakes === 0 ? true : undefined)

      // S requires a proof: M, who has no identity, is refused; A proves alice and is accepted.
      await expect(M.service.authenticate(S.peerId)).rejects.toMatchObject({ reason: 'proof_required', remote: true })
      expect((await A.service.authenticate(S.peerId)).did).toBe(carol.did)
      expect(S.service.registry.get(A.peerId)?.did).toBe(alice.did)

      // A peer that does not speak DIDAuth at all.
      await M.service.stop()
      try {
        await expect(A.service.authenticate(M.peerId)).rejects.toMatchObject({ reason: 'protocol_not_supported' })
      } finally {
        await M.service.start()
      }

      // D authenticates every peer it connects to that speaks DIDAuth, without being asked.
      const authenticated = nextEvent<PeerSession>(D.service.registry, 'authenticated', session => session.peerId === B.peerId)
      await D.node.dial(B.address)
      expect(await authenticated).toMatchObject({ peerId: B.peerId, did: bob.did })
    } finally {
      await Promise.allSettled([S.stop(), D.stop()])
    }
  })
})
