/**
 * Writes the DIDAuth transcripts under test/vectors/didauth/ (run: `node test/vectors/didauth/generate.ts`).
 * Each file is one handshake as it crossed one connection — the four messages byte for byte — with everything
 * needed to replay it: the keys (fixed seeds), both PeerIds, the clock, what the verifier's resolver answers for
 * each DID, and the expected outcome. The honest sides are driven by ipidd's own state machines
 * (src/auth/handshake.ts) with fixed nonces; Ed25519 is deterministic, so re-running yields the same files.
 * Format: test/vectors/README.md; replayed by test/auth/vectors.test.ts.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base64url } from 'multiformats/bases/base64'
import { Initiator, Responder } from '../../../src/auth/handshake.ts'
import { encodeMessage } from '../../../src/auth/messages.ts'
import { NonceStore, ReplaySet } from '../../../src/auth/nonces.ts'
import { CLOCK_SKEW_MS, createProof, decodeProof, proofId } from '../../../src/auth/proof.ts'
import { equivalentDids, parseDid } from '../../../src/did/identifier.ts'
import { createFirstVersion, createNextVersion } from '../../../src/did/version-node.ts'
import { DID_LD_JSON } from '../../../src/resolver/resolver.ts'
import { formatTime } from '../../../src/did/time.ts'
import { HOUR_MS, T0, documentWithAuthKey, multikeyOf, seededKey, testIdentity } from '../../helpers/fixtures.ts'
import { documentWithKey, fixtureSigner } from '../../helpers/didauth.ts'
import type { HandshakeDeps, Parties } from '../../../src/auth/handshake.ts'
import type { ChallengeMessage, DidAuthMessage, HelloMessage } from '../../../src/auth/messages.ts'
import type { DidAuthSigner } from '../../../src/auth/proof.ts'
import type { DidDocument } from '../../../src/did/document.ts'
import type { DecodedVersionNode } from '../../../src/did/version-node.ts'
import type { DidResolutionResult } from '../../../src/resolver/resolver.ts'
import type { TestIdentity } from '../../helpers/fixtures.ts'

const here = dirname(fileURLToPath(import.meta.url))
/** The verifiers' clock in every transcript: 2026-01-01T01:00:00Z. */
const NOW = T0 + HOUR_MS
const clock = (): number => NOW

/** The seed of `seededKey(n)` (n < 256): the byte n, 32 times, as hex. */
const seedHex = (n: number): string => n.toString(16).padStart(2, '0').repeat(32)
/** A fixed nonce per label: sha256 of a text, base64url (32 bytes, as a CSPRNG nonce is). */
const nonceFor = (label: string): string => base64url.baseEncode(createHash('sha256').update(`ipidd didauth vector ${label}`).digest())
const text = (message: DidAuthMessage): string => new TextDecoder().decode(encodeMessage(message))

interface Party {
  /** seededKey number of the libp2p key */
  peerSeed: number
  peerId: string
  id?: TestIdentity
  /** seededKey number of the authentication key used, and its fragment */
  authSeed?: number
  fragment?: string
}

async function peer (peerSeed: number, id?: TestIdentity, authSeed?: number, fragment = 'auth-1'): Promise<Party> {
  return {
    peerSeed,
    peerId: peerIdFromPrivateKey(await seededKey(peerSeed)).toString(),
    ...(id === undefined ? {} : { id, authSeed: authSeed ?? 0, fragment })
  }
}

async function signerOf (party: Party): Promise<DidAuthSigner | undefined> {
  if (party.id === undefined || party.authSeed === undefined) return undefined
  return fixtureSigner(party.id.did, await seededKey(party.authSeed), party.fragment)
}

function resolutionOf (node: DecodedVersionNode): DidResolutionResult {
  const name = parseDid(node.node.document.id)
  return {
    didDocument: node.node.document,
    didResolutionMetadata: { contentType: DID_LD_JSON, source: 'network', stale: false },
    didDocumentMetadata: { created: node.node.created, updated: node.node.updated, versionId: node.cid.toString(), deactivated: node.node.deactivated, canonicalId: name.did, equivalentId: equivalentDids(name) }
  }
}

async function published (id: TestIdentity, document: DidDocument): Promise<DecodedVersionNode> {
  return createFirstVersion({ document, updateKeys: [multikeyOf(id.update[0]!)] }, id.root, T0)
}

function deps (signer: DidAuthSigner | undefined, nonce: string | undefined, resolution: Record<string, DidResolutionResult>, replay?: ReplaySet): HandshakeDeps {
  return {
    clock,
    resolve: async did => resolution[did] ?? { didDocument: null, didResolutionMetadata: { error: 'notFound', reason: 'no_record', message: `no record found for ${did}` }, didDocumentMetadata: {} },
    nonces: new NonceStore({ clock, generate: () => nonce ?? nonceFor('unused') }),
    replay: replay ?? new ReplaySet({ clock }),
    ...(signer === undefined ? {} : { signer })
  }
}

function describeParty (party: Party, role: Record<string, unknown>): Record<string, unknown> {
  return {
    peerId: party.peerId,
    peerKeySeed: seedHex(party.peerSeed),
    ...(party.id === undefined
      ? {}
      : { did: party.id.did, authKeySeed: seedHex(party.authSeed!), keyId: `${party.id.did}#${party.fragment ?? 'auth-1'}` }),
    ...role
  }
}

interface Transcript {
  name: string
  description: string
  initiator: Party
  responder: Party
  /** Which sides follow the protocol (their messages are checked byte for byte on replay). */
  honest: { initiator: boolean, responder: boolean }
  wantProof: boolean
  requirePeerProof: boolean
  resolution: Record<string, DidResolutionResult>
  acceptedBefore?: { responder?: string[] }
  messages: Array<{ from: 'initiator' | 'responder', payload: string }>
  expected: Record<string, unknown>
}

function write (t: Transcript): void {
  const valid = t.expected.ok === true
  writeFileSync(join(here, `${t.name}.json`), JSON.stringify({
    description: t.description,
    valid,
    now: formatTime(NOW),
    initiator: describeParty(t.initiator, { honest: t.honest.initiator, wantProof: t.wantProof }),
    responder: describeParty(t.responder, { honest: t.honest.responder, requirePeerProof: t.requirePeerProof }),
    // What the verifiers' resolver answers: for every DID a message names (any other DID is notFound).
    resolution: Object.fromEntries(Object.entries(t.resolution).filter(([did]) => t.messages.some(m => m.payload.includes(`"${did}"`)))),
    ...(t.acceptedBefore === undefined ? {} : { acceptedBefore: t.acceptedBefore }),
    messages: t.messages,
    expected: t.expected
  }, null, 2) + '\n')
}

/**
 * Runs an honest handshake between two parties with ipidd's machines; returns the four messages. `tamper`
 * may replace the initiator's proof message before the responder sees it.
 */
async function honestRun (label: string, initiator: Party, responder: Party, resolution: Record<string, DidResolutionResult>, options: { wantProof?: boolean, requirePeerProof?: boolean } = {}) {
  const parties: Parties = { initiator: initiator.peerId, responder: responder.peerId }
  const i = new Initiator(parties, deps(await signerOf(initiator), nonceFor(`${label}/initiator`), resolution), { wantProof: options.wantProof ?? true })
  const r = new Responder(parties, deps(await signerOf(responder), nonceFor(`${label}/responder`), resolution), { requirePeerProof: options.requirePeerProof ?? false })
  const hello = i.hello()
  const challenge = await r.onHello(hello)
  const proof = await i.onChallenge(challenge)
  const { outcome } = await r.onProof(proof)
  i.onOutcome(outcome)
  return { hello, challenge, proof, outcome }
}

async function main (): Promise<void> {
  mkdirSync(here, { recursive: true })
  for (const file of readdirSync(here)) if (file.endsWith('.json')) rmSync(join(here, file))

  const [alice, bob, carol, asrt, dead] = await Promise.all([200, 210, 220, 230, 240].map(async base => testIdentity(base))) as TestIdentity[] as [TestIdentity, TestIdentity, TestIdentity, TestIdentity, TestIdentity]
  const aliceV1 = await published(alice, documentWithAuthKey(alice.did, alice.auth[0]!))
  const aliceV2 = await createNextVersion(aliceV1, { document: documentWithKey(alice.did, alice.auth[1]!, 'auth-2', ['authentication', 'assertionMethod']), updateKeys: [multikeyOf(alice.update[0]!)] }, alice.update[0]!, T0 + HOUR_MS / 2)
  const bobV1 = await published(bob, documentWithAuthKey(bob.did, bob.auth[0]!))
  const carolV1 = await published(carol, documentWithAuthKey(carol.did, carol.auth[0]!))
  const asrtV1 = await published(asrt, documentWithKey(asrt.did, asrt.auth[0]!, 'auth-1', ['assertionMethod']))
  const deadV1 = await published(dead, documentWithAuthKey(dead.did, dead.auth[0]!))
  const deadV2 = await createNextVersion(deadV1, { deactivate: true }, dead.update[0]!, T0 + HOUR_MS / 2)
  const resolution: Record<string, DidResolutionResult> = {
    [alice.did]: resolutionOf(aliceV1),
    [bob.did]: resolutionOf(bobV1),
    [carol.did]: resolutionOf(carolV1),
    [asrt.did]: resolutionOf(asrtV1),
    [dead.did]: resolutionOf(deadV2)
  }
  // alice's key 204 (auth-1), bob's 214, carol's 224, asrt's 234, dead's 244; libp2p keys 250 (A), 251 (B), 252 (M).
  const A = await peer(250, alice, 204)
  const B = await peer(251, bob, 214)
  const anonA = await peer(250)
  const anonB = await peer(251)
  const M = await peer(252)
  const honest = { initiator: true, responder: true }
  const msgs = (...list: Array<['initiator' | 'responder', DidAuthMessage | string]>): Transcript['messages'] =>
    list.map(([from, m]) => ({ from, payload: typeof m === 'string' ? m : text(m) }))
  const common = { honest, wantProof: true, requirePeerProof: false, resolution }

  // ---------------------------------------------------------------------------------------------- valid
  const mutual = await honestRun('valid_mutual', A, B, resolution)
  write({ name: 'valid_mutual', description: 'alice (initiator) and bob (responder) prove themselves to each other', initiator: A, responder: B, ...common,
    messages: msgs(['initiator', mutual.hello], ['responder', mutual.challenge], ['initiator', mutual.proof], ['responder', mutual.outcome]),
    expected: { ok: true, initiatorLearns: bob.did, responderLearns: alice.did } })

  const onlyBob = await honestRun('valid_responder_proves', anonA, B, resolution)
  write({ name: 'valid_responder_proves', description: 'an initiator without a DID asks bob to prove himself; bob\'s proof names the initiator\'s PeerId as its audience', initiator: anonA, responder: B, ...common,
    messages: msgs(['initiator', onlyBob.hello], ['responder', onlyBob.challenge], ['initiator', onlyBob.proof], ['responder', onlyBob.outcome]),
    expected: { ok: true, initiatorLearns: bob.did, responderLearns: null } })

  const onlyAlice = await honestRun('valid_initiator_proves', A, anonB, resolution, { wantProof: false, requirePeerProof: true })
  write({ name: 'valid_initiator_proves', description: 'alice proves herself to a responder without a DID that requires a proof; her proof names the responder\'s PeerId as its audience', initiator: A, responder: anonB, ...common, wantProof: false, requirePeerProof: true,
    messages: msgs(['initiator', onlyAlice.hello], ['responder', onlyAlice.challenge], ['initiator', onlyAlice.proof], ['responder', onlyAlice.outcome]),
    expected: { ok: true, initiatorLearns: null, responderLearns: alice.did } })

  const A2 = await peer(250, alice, 205, 'auth-2')
  const rotated = { ...resolution, [alice.did]: resolutionOf(aliceV2) }
  const afterRotation = await honestRun('valid_after_rotation', A2, B, rotated)
  write({ name: 'valid_after_rotation', description: 'alice rotated her authentication key (version 2 lists auth-2 only) and proves with the new one', initiator: A2, responder: B, ...common, resolution: rotated,
    messages: msgs(['initiator', afterRotation.hello], ['responder', afterRotation.challenge], ['initiator', afterRotation.proof], ['responder', afterRotation.outcome]),
    expected: { ok: true, initiatorLearns: bob.did, responderLearns: alice.did } })

  // ------------------------------------------------------------------------------- refused by the responder
  /** An honest hello and challenge, then `proof` as the initiator's message 3; the responder refuses with `reason`. */
  const refusedProof = async (name: string, description: string, initiator: Party, makeProof: (hello: HelloMessage, challenge: ChallengeMessage) => Promise<string>, reason: string, extra: Partial<Transcript> = {}): Promise<void> => {
    const parties: Parties = { initiator: initiator.peerId, responder: B.peerId }
    const replay = new ReplaySet({ clock })
    for (const jwt of extra.acceptedBefore?.responder ?? []) replay.add(proofId(decodeProof(jwt).signature), decodeProof(jwt).claims.exp * 1000 + CLOCK_SKEW_MS)
    const i = new Initiator(parties, deps(await signerOf(initiator), nonceFor(`${name}/initiator`), extra.resolution ?? resolution), { wantProof: true })
    const r = new Responder(parties, deps(await signerOf(B), nonceFor(`${name}/responder`), extra.resolution ?? resolution, replay), { requirePeerProof: false })
    const hello = i.hello()
    const challenge = await r.onHello(hello)
    await i.onChallenge(challenge)
    const proof = { type: 'proof' as const, proof: await makeProof(hello, challenge) }
    let refusal = ''
    await r.onProof(proof).then(() => { throw new Error(`${name}: the responder accepted`) }, (err: { reason: string }) => { refusal = err.reason })
    if (refusal !== reason) throw new Error(`${name}: refused with ${refusal}, not ${reason}`)
    write({ name, description, initiator, responder: B, ...common, honest: { initiator: false, responder: true }, ...extra,
      messages: msgs(['initiator', hello], ['responder', challenge], ['initiator', proof], ['responder', { type: 'outcome', ok: false, reason }]),
      expected: { ok: false, reason, detectedBy: 'responder', atMessage: 3 } })
  }
  const aliceSigner = (await signerOf(A))!
  const bind = (challenge: ChallengeMessage, over: Partial<{ audience: string, nonce: string, initiator: string, responder: string }> = {}) =>
    ({ audience: challenge.did ?? B.peerId, nonce: challenge.nonce, initiator: A.peerId, responder: B.peerId, role: 'initiator' as const, ...over })

  const earlier = mutual.proof.proof!
  await refusedProof('invalid_replayed_proof', 'alice\'s proof from valid_mutual, which bob accepted, sent again in a new handshake on the same connection', A,
    async () => earlier, 'replayed_proof', { acceptedBefore: { responder: [earlier] } })
  await refusedProof('invalid_wrong_audience', 'alice\'s proof names carol as its audience, not bob', A,
    async (_h, c) => createProof(aliceSigner, bind(c, { audience: carol.did }), NOW), 'wrong_audience')
  await refusedProof('invalid_expired_proof', 'alice\'s proof was made 10 minutes ago: past its 60 s lifetime and the 30 s skew', A,
    async (_h, c) => createProof(aliceSigner, bind(c), NOW - 10 * 60_000), 'expired_proof')
  await refusedProof('invalid_proof_from_the_future', 'alice\'s proof is dated 10 minutes ahead, beyond the clock skew allowed', A,
    async (_h, c) => createProof(aliceSigner, bind(c), NOW + 10 * 60_000), 'proof_not_yet_valid')
  await refusedProof('invalid_wrong_nonce', 'alice\'s proof is over another nonce than bob sent', A,
    async (_h, c) => createProof(aliceSigner, bind(c, { nonce: nonceFor('another') }), NOW), 'wrong_nonce')
  await refusedProof('invalid_wrong_issuer', 'the hello claims alice, the proof is carol\'s', A,
    async (_h, c) => createProof((await signerOf(await peer(250, carol, 224)))!, bind(c), NOW), 'wrong_issuer')
  await refusedProof('invalid_bad_signature', 'the proof names alice\'s auth-1 as its key but was signed by another key', A,
    async (_h, c) => createProof({ ...aliceSigner, sign: async data => (await seededKey(205)).sign(data) }, bind(c), NOW), 'bad_signature')
  await refusedProof('invalid_rotated_key', 'alice proves with auth-1, but her current document (version 2) lists only auth-2', A,
    async (_h, c) => createProof(aliceSigner, bind(c), NOW), 'not_authentication_key', { resolution: rotated })
  const asrtParty = await peer(250, asrt, 234)
  await refusedProof('invalid_assertion_only_key', 'the key is listed in the document only under assertionMethod, not authentication', asrtParty,
    async (_h, c) => createProof((await signerOf(asrtParty))!, bind(c), NOW), 'not_authentication_key')
  const deadParty = await peer(250, dead, 244)
  await refusedProof('invalid_deactivated', 'the DID is deactivated (its last version); the key it listed signs in vain', deadParty,
    async (_h, c) => createProof((await signerOf(deadParty))!, bind(c), NOW), 'deactivated')
  const nobody = await testIdentity(180)
  const nobodyParty = await peer(250, nobody, 184)
  await refusedProof('invalid_unresolvable', 'the verifier\'s resolver finds no record for the DID (notFound, no_record)', nobodyParty,
    async (_h, c) => createProof((await signerOf(nobodyParty))!, bind(c), NOW), 'unresolvable')

  // The relay, caught by the responder: M claims alice to B, and got A to sign over B's nonce by claiming bob to A.
  {
    const parties: Parties = { initiator: M.peerId, responder: B.peerId }
    const r = new Responder(parties, deps(await signerOf(B), nonceFor('invalid_wrong_peer_relayed_to_responder/responder'), resolution), { requirePeerProof: false })
    const hello: HelloMessage = { type: 'hello', version: 1, did: alice.did, nonce: nonceFor('invalid_wrong_peer_relayed_to_responder/initiator'), wantProof: true }
    const challenge = await r.onHello(hello)
    const atA = new Responder({ initiator: M.peerId, responder: A.peerId }, deps(aliceSigner, nonceFor('relay/A'), resolution), { requirePeerProof: false })
    const relayed = await atA.onHello({ type: 'hello', version: 1, did: bob.did, nonce: challenge.nonce, wantProof: true })
    const proof = { type: 'proof' as const, proof: relayed.proof! }
    await r.onProof(proof).then(() => { throw new Error('relay accepted') }, (err: { reason: string }) => { if (err.reason !== 'wrong_peer') throw err })
    write({ name: 'invalid_wrong_peer_relayed_to_responder', description: 'a relaying man-in-the-middle M claims alice to bob; it got alice\'s node A to sign over bob\'s nonce by claiming bob to A, so the proof binds the connection M ↔ A, not M ↔ B', initiator: M, responder: B, ...common, honest: { initiator: false, responder: true },
      messages: msgs(['initiator', hello], ['responder', challenge], ['initiator', proof], ['responder', { type: 'outcome', ok: false, reason: 'wrong_peer' }]),
      expected: { ok: false, reason: 'wrong_peer', detectedBy: 'responder', atMessage: 3 } })
  }
  // The reflection, caught by the role binding: M claims bob's own DID to bob and takes bob's nonce; in a second
  // handshake (same connection, same roles) it sends that nonce as its own, and bob signs over it as responder.
  {
    const parties: Parties = { initiator: M.peerId, responder: B.peerId }
    const bobSigner = (await signerOf(B))!
    const r = new Responder(parties, deps(bobSigner, nonceFor('invalid_reflected_proof/responder'), resolution), { requirePeerProof: false })
    const hello: HelloMessage = { type: 'hello', version: 1, did: bob.did, nonce: nonceFor('invalid_reflected_proof/initiator'), wantProof: true }
    const challenge = await r.onHello(hello)
    // The second handshake's responder: bob's machine with its own nonce store, so without the reflected-nonce check.
    const second = new Responder(parties, deps(bobSigner, nonceFor('invalid_reflected_proof/second'), resolution), { requirePeerProof: false })
    const reflected = await second.onHello({ type: 'hello', version: 1, did: bob.did, nonce: challenge.nonce, wantProof: true })
    const proof = { type: 'proof' as const, proof: reflected.proof! }
    await r.onProof(proof).then(() => { throw new Error('reflection accepted') }, (err: { reason: string }) => { if (err.reason !== 'wrong_role') throw err })
    write({ name: 'invalid_reflected_proof', description: 'M claims bob\'s own DID to bob; in a second handshake on the same connection it sends bob\'s nonce from the first as its hello nonce and asks bob to prove himself, then answers the first with that proof. Issuer, audience (bob), PeerIds and nonce all match; the proof names its maker as the responder, and the prover here is the initiator', initiator: M, responder: B, ...common, honest: { initiator: false, responder: true },
      messages: msgs(['initiator', hello], ['responder', challenge], ['initiator', proof], ['responder', { type: 'outcome', ok: false, reason: 'wrong_role' }]),
      expected: { ok: false, reason: 'wrong_role', detectedBy: 'responder', atMessage: 3 } })
  }
  // The relay, caught by the initiator: A asks M to prove itself; M forwards A's hello to B and B's challenge back.
  {
    const i = new Initiator({ initiator: A.peerId, responder: M.peerId }, deps(aliceSigner, nonceFor('invalid_wrong_peer_relayed_to_initiator/initiator'), resolution), { wantProof: true })
    const hello = i.hello()
    const atB = new Responder({ initiator: M.peerId, responder: B.peerId }, deps(await signerOf(B), nonceFor('invalid_wrong_peer_relayed_to_initiator/responder'), resolution), { requirePeerProof: false })
    const challenge = await atB.onHello(hello)
    await i.onChallenge(challenge).then(() => { throw new Error('relay accepted') }, (err: { reason: string }) => { if (err.reason !== 'wrong_peer') throw err })
    write({ name: 'invalid_wrong_peer_relayed_to_initiator', description: 'alice asks M to prove itself; M relays her hello to bob and bob\'s challenge back: bob\'s proof binds M ↔ B, not A ↔ M. The initiator aborts the stream after message 2', initiator: A, responder: M, ...common, honest: { initiator: true, responder: false },
      messages: msgs(['initiator', hello], ['responder', challenge]),
      expected: { ok: false, reason: 'wrong_peer', detectedBy: 'initiator', atMessage: 2 } })
  }
  // The initiator wants a proof; the responder gives none.
  {
    const i = new Initiator({ initiator: A.peerId, responder: anonB.peerId }, deps(aliceSigner, nonceFor('invalid_proof_required/initiator'), resolution), { wantProof: true })
    const r = new Responder({ initiator: A.peerId, responder: anonB.peerId }, deps(undefined, nonceFor('invalid_proof_required/responder'), resolution), { requirePeerProof: false })
    const hello = i.hello()
    const challenge = await r.onHello(hello)
    write({ name: 'invalid_proof_required', description: 'alice asks for a proof; the responder has no DID and sends none, so alice aborts after message 2', initiator: A, responder: anonB, ...common,
      messages: msgs(['initiator', hello], ['responder', challenge]),
      expected: { ok: false, reason: 'proof_required', detectedBy: 'initiator', atMessage: 2 } })
  }

  // -------------------------------------------------------------------------------------- bad messages
  const badHello = async (name: string, description: string, payload: string, reason: string, responder = B, requirePeerProof = false): Promise<void> => {
    write({ name, description, initiator: M, responder, ...common, requirePeerProof, honest: { initiator: false, responder: true },
      messages: msgs(['initiator', payload], ['responder', { type: 'outcome', ok: false, reason }]),
      expected: { ok: false, reason, detectedBy: 'responder', atMessage: 1 } })
  }
  const n = nonceFor('bad')
  await badHello('invalid_bad_message_unknown_member', 'a hello with a member the schema does not have', JSON.stringify({ type: 'hello', version: 1, nonce: n, wantProof: true, admin: true }), 'bad_message')
  await badHello('invalid_bad_message_not_json', 'a frame that is not JSON', 'hello, bob', 'bad_message')
  await badHello('invalid_bad_message_short_nonce', 'a nonce of 16 bytes instead of 32', JSON.stringify({ type: 'hello', version: 1, nonce: base64url.baseEncode(new Uint8Array(16)), wantProof: true }), 'bad_message')
  await badHello('invalid_bad_message_non_canonical_did', 'the DID in another spelling (base58btc) than the canonical base36', JSON.stringify({ type: 'hello', version: 1, did: equivalentDids(parseDid(alice.did))[1], nonce: n, wantProof: true }), 'bad_message')
  await badHello('invalid_unsupported_version', 'a hello of version 2', JSON.stringify({ type: 'hello', version: 2, nonce: n, wantProof: true }), 'unsupported_version')
  await badHello('invalid_proof_required_by_responder', 'the responder requires a proof; the hello claims no DID', text({ type: 'hello', version: 1, nonce: n, wantProof: true }), 'proof_required', anonB, true)
}

await main()
process.stdout.write('DIDAuth vectors written under test/vectors/didauth/\n')
