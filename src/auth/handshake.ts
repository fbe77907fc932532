/**
 * The two roles of a DIDAuth handshake (spec/didauth.md §2) as small state machines that take and give messages
 * — `Initiator` and `Responder`, pure given their dependencies (clock, resolve, nonce store, replay set,
 * signer), so the interop vectors drive them without a network — and the runners that move their messages over
 * a libp2p stream (`runInitiator`, `runResponder`).
 *
 *   initiator                                  responder
 *   hello {version, did?, nonce_i, wantProof}  →
 *                                              ← challenge {did?, nonce_r, proof?(nonce_i)}   (or outcome ok:false)
 *   proof {proof?(nonce_r)}                    →
 *                                              ← outcome {ok, reason?}
 *
 * Each proof names its maker's role (`role`), and each side checks that the peer's proof names the peer's role;
 * a side also refuses to take, as the peer's nonce, a nonce it issued itself and still holds (`reflected_nonce`).
 * Together they stop a peer from getting a node to sign over that node's own challenge (spec/didauth.md §10).
 */
import { DidAuthError, asDidAuthError } from './errors.ts'
import { FramedStream } from './framing.ts'
import { DIDAUTH_VERSION } from './messages.ts'
import { createProof, verifyProof } from './proof.ts'
import type { FramedStreamOptions } from './framing.ts'
import type { ChallengeMessage, HelloMessage, OutcomeMessage, ProofMessage } from './messages.ts'
import type { NonceStore, ReplaySet } from './nonces.ts'
import type { DidAuthSigner, VerifiedProof } from './proof.ts'
import type { Clock } from '../did/time.ts'
import type { DidResolutionResult } from '../resolver/resolver.ts'
import type { Stream } from '@libp2p/interface'

/** The PeerIds of this connection's two ends (base58btc strings), as libp2p authenticated them. */
export interface Parties {
  initiator: string
  responder: string
}

export interface HandshakeDeps {
  clock: Clock
  /** Resolves a prover's DID (ipidd's resolver, cache included), once per proof. */
  resolve: (did: string) => Promise<DidResolutionResult>
  nonces: NonceStore
  replay: ReplaySet
  /** This side's identity, when it proves itself. */
  signer?: DidAuthSigner
}

/** What a handshake established: the peer's verified proof, when the peer proved itself. */
export interface HandshakeResult {
  peer?: VerifiedProof
}

function refusedByPeer (message: OutcomeMessage): DidAuthError {
  const reason = message.reason ?? 'internal_error'
  return new DidAuthError(reason, `the peer refused the handshake: ${reason}`, { remote: true })
}

export class Initiator {
  readonly parties: Parties
  private readonly deps: HandshakeDeps
  private readonly wantProof: boolean
  private nonce?: string
  private peer?: VerifiedProof

  constructor (parties: Parties, deps: HandshakeDeps, options: { wantProof: boolean }) {
    this.parties = parties
    this.deps = deps
    this.wantProof = options.wantProof
  }

  /** Message 1. */
  hello (): HelloMessage {
    this.nonce = this.deps.nonces.issue()
    const { signer } = this.deps
    return { type: 'hello', version: DIDAUTH_VERSION, ...(signer === undefined ? {} : { did: signer.did }), nonce: this.nonce, wantProof: this.wantProof }
  }

  /** Message 2 in, message 3 out: verifies the responder's proof (if any), proves itself (if it can). */
  async onChallenge (message: ChallengeMessage | OutcomeMessage): Promise<ProofMessage> {
    if (message.type === 'outcome') throw message.ok ? new DidAuthError('bad_message', 'an acceptance before any proof') : refusedByPeer(message)
    if (this.nonce === undefined) throw new DidAuthError('internal_error', 'hello() was not called')
    if (message.nonce === this.nonce || this.deps.nonces.isLive(message.nonce)) {
      throw new DidAuthError('reflected_nonce', 'the challenge carries a nonce this side issued: it would sign over its own challenge')
    }
    const { signer, clock } = this.deps
    if (message.proof !== undefined && message.did !== undefined) {
      this.peer = await verifyProof(message.proof, {
        expected: { issuer: message.did, audience: signer?.did ?? this.parties.initiator, nonce: this.nonce, ...this.parties, role: 'responder' },
        nowMs: clock(),
        resolve: this.deps.resolve,
        replay: this.deps.replay,
        consumeNonce: nonce => this.deps.nonces.consume(nonce)
      })
    } else if (this.wantProof) {
      throw new DidAuthError('proof_required', 'the peer did not prove a DID')
    }
    if (signer === undefined) return { type: 'proof' }
    const proof = await createProof(signer, { audience: message.did ?? this.parties.responder, nonce: message.nonce, ...this.parties, role: 'initiator' }, clock())
    return { type: 'proof', proof }
  }

  /** Message 4 in: the responder's verdict on our proof. */
  onOutcome (message: OutcomeMessage): HandshakeResult {
    if (!message.ok) throw refusedByPeer(message)
    return this.peer === undefined ? {} : { peer: this.peer }
  }

  /** Releases this side's nonce, whatever happened. */
  end (): void {
    if (this.nonce !== undefined) this.deps.nonces.release(this.nonce)
  }
}

export class Responder {
  readonly parties: Parties
  private readonly deps: HandshakeDeps
  private readonly requirePeerProof: boolean
  private hello?: HelloMessage
  private nonce?: string
  /** What the initiator's proof must name as its audience: our DID if we proved it, else our PeerId. */
  private audience?: string

  constructor (parties: Parties, deps: HandshakeDeps, options: { requirePeerProof: boolean }) {
    this.parties = parties
    this.deps = deps
    this.requirePeerProof = options.requirePeerProof
  }

  /** Message 1 in, message 2 out. */
  async onHello (hello: HelloMessage): Promise<ChallengeMessage> {
    if (hello.version !== DIDAUTH_VERSION) throw new DidAuthError('unsupported_version', `this peer speaks version ${DIDAUTH_VERSION}, not ${hello.version}`)
    if (this.requirePeerProof && hello.did === undefined) throw new DidAuthError('proof_required', 'this peer requires a proof, and the initiator claims no DID')
    // A nonce we issued (in another handshake, still running) sent back to us to sign: a reflection attempt.
    if (this.deps.nonces.isLive(hello.nonce)) throw new DidAuthError('reflected_nonce', 'the hello carries a nonce this side issued: it will not sign over its own challenge')
    this.hello = hello
    this.nonce = this.deps.nonces.issue()
    const { signer, clock } = this.deps
    if (hello.wantProof && signer !== undefined) {
      this.audience = signer.did
      const proof = await createProof(signer, { audience: hello.did ?? this.parties.initiator, nonce: hello.nonce, ...this.parties, role: 'responder' }, clock())
      return { type: 'challenge', did: signer.did, nonce: this.nonce, proof }
    }
    this.audience = this.parties.responder
    return { type: 'challenge', nonce: this.nonce }
  }

  /** Message 3 in: verifies the initiator's proof; message 4 out (a refusal is thrown, the runner sends it). */
  async onProof (message: ProofMessage): Promise<HandshakeResult & { outcome: OutcomeMessage }> {
    const { hello, nonce, audience } = this
    if (hello === undefined || nonce === undefined || audience === undefined) throw new DidAuthError('internal_error', 'onHello() did not run')
    if (hello.did === undefined) {
      if (message.proof !== undefined) throw new DidAuthError('bad_message', 'a proof, but the hello claimed no DID')
      return { outcome: { type: 'outcome', ok: true } }
    }
    if (message.proof === undefined) throw new DidAuthError('proof_required', `the initiator claimed ${hello.did} but sent no proof`)
    const peer = await verifyProof(message.proof, {
      expected: { issuer: hello.did, audience, nonce, ...this.parties, role: 'initiator' },
      nowMs: this.deps.clock(),
      resolve: this.deps.resolve,
      replay: this.deps.replay,
      consumeNonce: n => this.deps.nonces.consume(n)
    })
    return { peer, outcome: { type: 'outcome', ok: true } }
  }

  end (): void {
    if (this.nonce !== undefined) this.deps.nonces.release(this.nonce)
  }
}

/** Runs the initiator's side over an open stream; closes (or aborts) the stream before it returns. */
export async function runInitiator (stream: Stream, initiator: Initiator, options: FramedStreamOptions = {}): Promise<HandshakeResult> {
  const framed = new FramedStream(stream, options)
  try {
    await framed.write(initiator.hello())
    const challenge = await framed.read(['challenge', 'outcome'])
    await framed.write(await initiator.onChallenge(challenge))
    const result = initiator.onOutcome(await framed.read(['outcome']))
    await framed.close()
    return result
  } catch (err) {
    const failure = asDidAuthError(err)
    framed.abort(failure.reason)
    throw failure
  } finally {
    initiator.end()
  }
}

/**
 * Runs the responder's side over an inbound stream. A failure is told to the peer (`outcome` with the reason)
 * when the stream can still carry it, then the stream is closed.
 */
export async function runResponder (stream: Stream, responder: Responder, options: FramedStreamOptions = {}): Promise<HandshakeResult> {
  const framed = new FramedStream(stream, options)
  try {
    await framed.write(await responder.onHello(await framed.read(['hello'])))
    const { outcome, peer } = await responder.onProof(await framed.read(['proof']))
    await framed.write(outcome)
    await framed.close()
    return peer === undefined ? {} : { peer }
  } catch (err) {
    const failure = asDidAuthError(err)
    if (failure.reason === 'stream_closed') framed.abort(failure.reason)
    else await framed.refuse(failure.reason)
    throw failure
  } finally {
    responder.end()
  }
}
