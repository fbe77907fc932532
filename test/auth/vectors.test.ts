/**
 * Replays every DIDAuth transcript of test/vectors/didauth/ (format: test/vectors/README.md) through ipidd's
 * state machines, with nothing but what the file holds: the keys from their seeds, the PeerIds, the clock, the
 * resolution answers. An honest side must produce exactly the recorded messages; the verifying side must
 * accept (valid) or refuse with the recorded reason at the recorded message.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { DidAuthError } from '../../src/auth/errors.ts'
import { Initiator, Responder } from '../../src/auth/handshake.ts'
import { decodeMessage } from '../../src/auth/messages.ts'
import { NonceStore, ReplaySet } from '../../src/auth/nonces.ts'
import { CLOCK_SKEW_MS, decodeProof, proofId } from '../../src/auth/proof.ts'
import { parseTime } from '../../src/did/time.ts'
import type { HandshakeDeps } from '../../src/auth/handshake.ts'
import type { DidAuthSigner, VerifiedProof } from '../../src/auth/proof.ts'
import type { DidResolutionResult } from '../../src/resolver/resolver.ts'

const folder = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'didauth')
type Vector = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Side { peerId: string, peerKeySeed: string, did?: string, authKeySeed?: string, keyId?: string, honest: boolean, wantProof?: boolean, requirePeerProof?: boolean }

const vectors = readdirSync(folder).filter(f => f.endsWith('.json')).sort()
  .map(f => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(folder, f), 'utf8')) as Vector] as const)

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'))

async function signerOf (side: Side): Promise<DidAuthSigner | undefined> {
  if (side.did === undefined || side.authKeySeed === undefined || side.keyId === undefined) return undefined
  const key = await generateKeyPairFromSeed('Ed25519', hex(side.authKeySeed))
  return { did: side.did, keyId: side.keyId, sign: async data => key.sign(data) }
}

function deps (v: Vector, signer: DidAuthSigner | undefined, nonce: string | undefined, replay = new ReplaySet({ clock: () => parseTime(v.now)! })): HandshakeDeps {
  const clock = (): number => parseTime(v.now)!
  const resolution = v.resolution as Record<string, DidResolutionResult>
  return {
    clock,
    resolve: async did => resolution[did] ?? { didDocument: null, didResolutionMetadata: { error: 'notFound', reason: 'no_record' }, didDocumentMetadata: {} },
    nonces: new NonceStore({ clock, generate: () => nonce ?? 'unused' }),
    replay,
    ...(signer === undefined ? {} : { signer })
  }
}

const payload = (v: Vector, index: number): Uint8Array | undefined => {
  const message = v.messages[index] as { payload: string } | undefined
  return message === undefined ? undefined : new TextEncoder().encode(message.payload)
}
const json = (v: Vector, index: number): unknown => JSON.parse((v.messages[index] as { payload: string }).payload)

interface Replayed { ok: boolean, reason?: string, detectedBy?: string, atMessage?: number, initiatorLearns: string | null, responderLearns: string | null }

async function replay (v: Vector): Promise<Replayed> {
  const ini = v.initiator as Side
  const res = v.responder as Side
  for (const side of [ini, res]) expect(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', hex(side.peerKeySeed))).toString()).toBe(side.peerId)
  const parties = { initiator: ini.peerId, responder: res.peerId }
  // The nonces the honest sides drew (their CSPRNG is replaced by what the transcript holds).
  const nonceIn = (index: number): string | undefined => {
    try {
      return (json(v, index) as { nonce?: string }).nonce
    } catch {
      return undefined
    }
  }
  const helloNonce = nonceIn(0)
  const challenge = { nonce: v.messages[1] === undefined ? undefined : nonceIn(1) }
  const responderReplay = new ReplaySet({ clock: () => parseTime(v.now)! })
  for (const jwt of (v.acceptedBefore?.responder ?? []) as string[]) {
    const { signature, claims } = decodeProof(jwt)
    responderReplay.add(proofId(signature), claims.exp * 1000 + CLOCK_SKEW_MS)
  }
  const i = ini.honest ? new Initiator(parties, deps(v, await signerOf(ini), helloNonce), { wantProof: ini.wantProof ?? true }) : undefined
  const r = res.honest ? new Responder(parties, deps(v, await signerOf(res), challenge?.nonce, responderReplay), { requirePeerProof: res.requirePeerProof ?? false }) : undefined
  let initiatorLearns: VerifiedProof | undefined
  let responderLearns: VerifiedProof | undefined
  const failed = (err: unknown, detectedBy: string, atMessage: number): Replayed => {
    if (!(err instanceof DidAuthError)) throw err
    return { ok: false, reason: err.reason, detectedBy, atMessage, initiatorLearns: null, responderLearns: null }
  }

  // Message 1: the hello.
  if (i !== undefined) expect(json(v, 0)).toEqual(i.hello())
  if (r !== undefined) {
    try {
      const produced = await r.onHello(decodeMessage(payload(v, 0)!, ['hello']))
      expect(json(v, 1)).toEqual(produced)
    } catch (err) {
      const refusal = failed(err, 'responder', 1)
      expect(json(v, 1)).toEqual({ type: 'outcome', ok: false, reason: refusal.reason })
      return refusal
    }
  }
  // Message 2: the challenge, answered by message 3.
  if (i !== undefined) {
    try {
      const produced = await i.onChallenge(decodeMessage(payload(v, 1)!, ['challenge', 'outcome']))
      expect(json(v, 2)).toEqual(produced)
    } catch (err) {
      const refusal = failed(err, 'initiator', 2)
      expect(v.messages).toHaveLength(2) // the initiator aborts: nothing follows
      return refusal
    }
  }
  // Message 3: the initiator's proof, answered by the outcome.
  if (r !== undefined) {
    try {
      const { outcome, peer } = await r.onProof(decodeMessage(payload(v, 2)!, ['proof']))
      responderLearns = peer
      expect(json(v, 3)).toEqual(outcome)
    } catch (err) {
      const refusal = failed(err, 'responder', 3)
      expect(json(v, 3)).toEqual({ type: 'outcome', ok: false, reason: refusal.reason })
      return refusal
    }
  }
  // Message 4: the outcome.
  if (i !== undefined) initiatorLearns = i.onOutcome(decodeMessage(payload(v, 3)!, ['outcome'])).peer
  return { ok: true, initiatorLearns: initiatorLearns?.did ?? null, responderLearns: responderLearns?.did ?? null }
}

describe('vectors: didauth', () => {
  it('has valid and invalid transcripts, and those the issue names', () => {
    const names = vectors.map(([name]) => name)
    expect(names.filter(n => n.startsWith('valid_')).length).toBeGreaterThanOrEqual(3)
    for (const required of ['valid_mutual', 'invalid_replayed_proof', 'invalid_wrong_peer_relayed_to_responder', 'invalid_wrong_peer_relayed_to_initiator', 'invalid_wrong_audience',
      'invalid_expired_proof', 'invalid_assertion_only_key', 'invalid_rotated_key', 'invalid_deactivated', 'invalid_bad_message_unknown_member',
      'invalid_reflected_proof']) {
      expect(names).toContain(required)
    }
  })

  for (const [name, v] of vectors) {
    it(name, async () => {
      const replayed = await replay(v)
      const expected = v.expected as Record<string, unknown>
      expect(v.valid).toBe(expected.ok)
      if (expected.ok === true) {
        expect(replayed).toEqual({ ok: true, initiatorLearns: v.initiator.honest === true ? expected.initiatorLearns : null, responderLearns: v.responder.honest === true ? expected.responderLearns : null })
      } else {
        expect(replayed).toMatchObject({ ok: false, reason: expected.reason, detectedBy: expected.detectedBy, atMessage: expected.atMessage })
      }
    })
  }
})
