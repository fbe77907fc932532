/**
 * DIDAuth proofs (spec/didauth.md §3): a compact JWT (JWS, EdDSA) signed by one of the prover DID's
 * `authentication` keys, binding the verifier's nonce, the verifier (audience), both PeerIds of the
 * connection and the prover's role in the handshake (so that a proof a node made as responder can never pass as
 * an initiator's proof to that same node: the reflection of spec/didauth.md §10). `createProof` and `verifyProof` are pure given a signer, a resolve function and the time, so the
 * interop vectors replay through exactly this code.
 */
import { createJWT, verifyJWT } from 'did-jwt'
import { base64url } from 'multiformats/bases/base64'
import { z } from 'zod'
import { DidAuthError } from './errors.ts'
import { MAX_PROOF_CHARS, NONCE_RE, PEER_ID_RE, isCanonicalDid } from './messages.ts'
import type { NonceCheck, ReplaySet } from './nonces.ts'
import type { DidResolutionResult } from '../resolver/resolver.ts'
import type { DIDResolutionResult, Resolvable } from 'did-resolver'

/** A proof is valid for this long after `iat`: long enough for one handshake, too short to be worth stealing. */
export const PROOF_LIFETIME_MS = 60_000
/** Clocks of prover and verifier may differ by this much either way. */
export const CLOCK_SKEW_MS = 30_000
/** How long the verifier's resolve of the prover's DID may take inside a handshake (cache answers at once). */
export const RESOLVE_DEADLINE_MS = 5_000
export const PROOF_ALG = 'EdDSA'

const SECOND_MS = 1000

/** What signs proofs for one DID: the DID, the verification method id (`<did>#<fragment>`) and the signature. */
export interface DidAuthSigner {
  did: string
  keyId: string
  /** Pure Ed25519 over `data` (64 bytes). The private key stays behind this function. */
  sign: (data: Uint8Array) => Uint8Array | Promise<Uint8Array>
}

/** The two roles of a handshake: `initiator` opened the DIDAuth stream, `responder` answered it. */
export const HANDSHAKE_ROLES = ['initiator', 'responder'] as const
export type HandshakeRole = typeof HANDSHAKE_ROLES[number]

/** The claim set of a proof, exactly these members. Times are NumericDate (whole seconds). */
export interface ProofClaims {
  iss: string
  aud: string
  nonce: string
  initiator: string
  responder: string
  /** The prover's own role in this handshake. */
  role: HandshakeRole
  iat: number
  exp: number
}

/** What a proof binds, besides its issuer. */
export interface ProofBinding {
  /** The verifier's DID, or its PeerId when it has no DID. */
  audience: string
  /** The verifier's nonce. */
  nonce: string
  /** PeerIds of this connection's two ends, in their roles. */
  initiator: string
  responder: string
  /** The prover's role in this handshake (for the verifier: the peer's role). */
  role: HandshakeRole
}

/** What the verifier expects of a proof in this handshake. */
export interface ProofExpectations extends ProofBinding {
  /** The DID the prover claimed in its `hello` or `challenge`. */
  issuer: string
}

export interface VerifyProofOptions {
  expected: ProofExpectations
  nowMs: number
  /** Resolves the issuer once (ipidd's resolver, cache included). */
  resolve: (did: string) => Promise<DidResolutionResult>
  /** Proofs accepted before; the accepted proof is added. */
  replay?: ReplaySet
  /** Uses up the verifier's nonce (the NonceStore); absent, the nonce is compared only. */
  consumeNonce?: (nonce: string) => NonceCheck
}

export interface VerifiedProof {
  did: string
  keyId: string
  /** The version of the document the key was found in. */
  versionId?: string
  /** Where the resolver had that document from (`network`, `pubsub`, `offer`, `cache`, `verified-state`). */
  source?: string
  /** The resolver's answer was older than its TTL (the network did not answer). */
  stale: boolean
  /** When the proof expires (ms): it stays in the replay set until then plus the skew. */
  expiresAtMs: number
}

const headerSchema = z.strictObject({
  alg: z.literal(PROOF_ALG),
  typ: z.literal('JWT').optional(),
  kid: z.string().min(1).max(512)
})
const numericDate = z.number().int().min(0).max(2 ** 40)
const claimsSchema = z.strictObject({
  iss: z.string().max(256).refine(isCanonicalDid, 'not a canonical did:ipid DID'),
  aud: z.string().min(1).max(256),
  nonce: z.string().regex(NONCE_RE),
  initiator: z.string().regex(PEER_ID_RE),
  responder: z.string().regex(PEER_ID_RE),
  role: z.enum(HANDSHAKE_ROLES),
  iat: numericDate,
  exp: numericDate
})

/** Makes the proof over `binding` at `nowMs` (the prover's clock). */
export async function createProof (signer: DidAuthSigner, binding: ProofBinding, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / SECOND_MS)
  const payload = { iat, exp: iat + PROOF_LIFETIME_MS / SECOND_MS, aud: binding.audience, nonce: binding.nonce, initiator: binding.initiator, responder: binding.responder, role: binding.role }
  return createJWT(payload, {
    issuer: signer.did,
    alg: PROOF_ALG,
    signer: async data => base64url.baseEncode(await signer.sign(typeof data === 'string' ? new TextEncoder().encode(data) : data))
  }, { kid: signer.keyId })
}

interface Decoded { header: z.infer<typeof headerSchema>, claims: ProofClaims, signature: Uint8Array }

/** Decodes a proof without verifying it: shape only (`bad_proof`). */
export function decodeProof (jwt: string): Decoded {
  if (jwt.length > MAX_PROOF_CHARS) throw new DidAuthError('bad_proof', `a proof longer than ${MAX_PROOF_CHARS} characters`)
  const parts = jwt.split('.')
  if (parts.length !== 3) throw new DidAuthError('bad_proof', 'the proof is not a compact JWS')
  let header: unknown
  let claims: unknown
  let signature: Uint8Array
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.baseDecode(parts[0]!)))
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.baseDecode(parts[1]!)))
    signature = base64url.baseDecode(parts[2]!)
  } catch {
    throw new DidAuthError('bad_proof', 'the proof does not decode (base64url JSON)')
  }
  const h = headerSchema.safeParse(header)
  if (!h.success) throw new DidAuthError('bad_proof', `the proof's header is not {alg: "${PROOF_ALG}", typ?: "JWT", kid}`)
  const c = claimsSchema.safeParse(claims)
  if (!c.success) {
    const issue = c.error.issues[0]
    throw new DidAuthError('bad_proof', `the proof's claims are not the DIDAuth claim set (at "${issue?.path.join('.') ?? ''}": ${issue?.message ?? 'invalid'})`)
  }
  if (signature.byteLength !== 64) throw new DidAuthError('bad_proof', 'the proof\'s signature is not 64 bytes')
  return { header: h.data, claims: c.data, signature }
}

/** The id a proof is remembered by in the replay set: its signature, hex. */
export function proofId (signature: Uint8Array): string {
  return Buffer.from(signature).toString('hex')
}

/**
 * Verifies a proof, checks in the order of spec/didauth.md §3.3; the first failure throws its DidAuthError.
 * On success the proof is remembered in the replay set.
 */
export async function verifyProof (jwt: string, options: VerifyProofOptions): Promise<VerifiedProof> {
  const { expected, nowMs } = options
  // 1. shape
  const { header, claims, signature } = decodeProof(jwt)
  if (!header.kid.startsWith(`${claims.iss}#`)) throw new DidAuthError('bad_proof', 'the proof\'s kid is not a verification method of its issuer')
  // 2. never twice
  const id = proofId(signature)
  if (options.replay?.has(id) === true) throw new DidAuthError('replayed_proof', 'this proof was accepted before')
  // 3–6. bound to this handshake: who, for whom, on which connection, in which role
  if (claims.iss !== expected.issuer) throw new DidAuthError('wrong_issuer', `the proof is issued by ${claims.iss}, not by the DID claimed in this handshake`)
  if (claims.aud !== expected.audience) throw new DidAuthError('wrong_audience', 'the proof is meant for another verifier')
  if (claims.initiator !== expected.initiator || claims.responder !== expected.responder) {
    throw new DidAuthError('wrong_peer', 'the proof was made for another connection (its PeerIds are not this connection\'s)')
  }
  if (claims.role !== expected.role) {
    throw new DidAuthError('wrong_role', `the proof was made by the ${claims.role} of a handshake, and the prover here is the ${expected.role}`)
  }
  // 7–9. time
  const nowS = Math.floor(nowMs / SECOND_MS)
  const skewS = CLOCK_SKEW_MS / SECOND_MS
  if (claims.exp <= claims.iat || claims.exp - claims.iat > PROOF_LIFETIME_MS / SECOND_MS) {
    throw new DidAuthError('bad_proof', `the proof's lifetime is not within (0, ${PROOF_LIFETIME_MS / SECOND_MS}] s`)
  }
  if (claims.iat > nowS + skewS) throw new DidAuthError('proof_not_yet_valid', 'the proof is issued in the future (beyond the clock skew allowed)')
  if (claims.exp <= nowS - skewS) throw new DidAuthError('expired_proof', 'the proof has expired')
  // 10–11. fresh: this handshake's nonce, used once
  if (claims.nonce !== expected.nonce) throw new DidAuthError('wrong_nonce', 'the proof is over another nonce than the one sent in this handshake')
  const nonce = options.consumeNonce?.(claims.nonce) ?? 'ok'
  if (nonce === 'expired') throw new DidAuthError('expired_nonce', 'the nonce expired before the proof arrived')
  if (nonce === 'unknown') throw new DidAuthError('wrong_nonce', 'the nonce was already used')
  // 12–13. the issuer's current document, resolved once
  const resolution = await options.resolve(claims.iss)
  const error = resolution.didResolutionMetadata.error
  if (error !== undefined || resolution.didDocument === null) {
    const reason = resolution.didResolutionMetadata.reason
    throw new DidAuthError('unresolvable', `${claims.iss} cannot be resolved: ${String(error ?? 'no document')}${typeof reason === 'string' ? ` (${reason})` : ''}`)
  }
  if (resolution.didDocumentMetadata.deactivated === true) throw new DidAuthError('deactivated', `${claims.iss} is deactivated`)
  // 14. the key is an authentication key of that document
  const authentication = resolution.didDocument.authentication ?? []
  if (!authentication.some(entry => (typeof entry === 'string' ? entry : entry.id) === header.kid)) {
    throw new DidAuthError('not_authentication_key', `${header.kid} is not an authentication key of the current document of ${claims.iss}`)
  }
  // 15. the signature, by did-jwt over the same resolution
  const fixed: Resolvable = { resolve: async () => ({ ...resolution }) as unknown as DIDResolutionResult }
  let signer: string
  try {
    const verified = await verifyJWT(jwt, {
      resolver: fixed,
      audience: expected.audience,
      proofPurpose: 'authentication',
      policies: { now: nowS },
      skewTime: skewS
    })
    signer = verified.signer.id
  } catch (err) {
    throw fromDidJwt(err)
  }
  if (signer !== header.kid) throw new DidAuthError('bad_signature', 'the proof is not signed by the key its kid names')
  // 16. remembered: never accepted again
  const expiresAtMs = claims.exp * SECOND_MS
  options.replay?.add(id, expiresAtMs + CLOCK_SKEW_MS)
  const versionId = resolution.didDocumentMetadata.versionId
  const source = resolution.didResolutionMetadata.source
  return {
    did: claims.iss,
    keyId: header.kid,
    ...(typeof versionId === 'string' ? { versionId } : {}),
    ...(typeof source === 'string' ? { source } : {}),
    stale: resolution.didResolutionMetadata.stale === true,
    expiresAtMs
  }
}

/** did-jwt's error prefixes → reasons. After the checks above, only a bad signature should get here. */
function fromDidJwt (err: unknown): DidAuthError {
  const message = (err as Error).message ?? ''
  const prefix = message.split(':')[0]
  switch (prefix) {
    case 'invalid_signature': return new DidAuthError('bad_signature', 'the signature does not verify under the authentication key', { cause: err })
    case 'no_suitable_keys': return new DidAuthError('not_authentication_key', 'the document has no authentication key usable with EdDSA', { cause: err })
    case 'resolver_error': return new DidAuthError('unresolvable', 'the issuer could not be resolved', { cause: err })
    case 'invalid_config': return new DidAuthError('wrong_audience', 'the proof is meant for another verifier', { cause: err })
    default: return new DidAuthError('bad_proof', 'the proof failed verification', { cause: err })
  }
}
