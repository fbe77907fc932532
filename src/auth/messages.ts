/**
 * The four DIDAuth messages (spec/didauth.md §4): strict schemas (an unknown member, a wrong type or a value out
 * of bounds is `bad_message`), and their encoding — one UTF-8 JSON object per length-prefixed frame.
 */
import { z } from 'zod'
import { parseDid } from '../did/identifier.ts'
import { DidAuthError } from './errors.ts'

/** The libp2p protocol id. */
export const DIDAUTH_PROTOCOL = '/ipid/didauth/1.0.0'
/** The message format version this implementation speaks (the `version` of `hello`). */
export const DIDAUTH_VERSION = 1
/**
 * Largest frame payload accepted or sent. The largest honest message is a `challenge` (two PeerIds' worth of
 * claims, a DID, a nonce and a signed JWT: about 1 KiB); eight times that leaves room without inviting abuse.
 */
export const MAX_MESSAGE_BYTES = 8 * 1024
/** Largest proof (compact JWT) in characters; an honest one is about 700. */
export const MAX_PROOF_CHARS = 4096
/** Nonce length in bytes, from a CSPRNG: 256 bits, never guessed, never repeated. */
export const NONCE_BYTES = 32
/** A nonce on the wire: base64url without padding of NONCE_BYTES bytes (43 characters). */
export const NONCE_RE = /^[A-Za-z0-9_-]{43}$/
/** A DID in a message: the canonical did:ipid form, at most this long before it is parsed. */
export const MAX_DID_CHARS = 256
/** A PeerId in a proof: its base58btc string (`12D3KooW…`, `Qm…`). */
export const PEER_ID_RE = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/
/** A reason in an `outcome`: lowercase words joined by `_`. Unknown reasons are accepted (newer peers). */
export const REASON_RE = /^[a-z][a-z_]{0,63}$/
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** True when `did` is a did:ipid DID in its canonical form (§2.2 of the method spec). */
export function isCanonicalDid (did: string): boolean {
  try {
    return parseDid(did).did === did
  } catch {
    return false
  }
}

const did = z.string().max(MAX_DID_CHARS).refine(isCanonicalDid, 'not a canonical did:ipid DID')
const nonce = z.string().regex(NONCE_RE)
const proof = z.string().max(MAX_PROOF_CHARS).regex(JWT_RE)

export const helloSchema = z.strictObject({
  type: z.literal('hello'),
  version: z.number().int().min(1).max(0xffff),
  did: did.optional(),
  nonce,
  wantProof: z.boolean()
})
export const challengeSchema = z.strictObject({
  type: z.literal('challenge'),
  did: did.optional(),
  nonce,
  proof: proof.optional()
}).refine(m => (m.did === undefined) === (m.proof === undefined), 'did and proof come together')
export const proofSchema = z.strictObject({
  type: z.literal('proof'),
  proof: proof.optional()
})
export const outcomeSchema = z.strictObject({
  type: z.literal('outcome'),
  ok: z.boolean(),
  reason: z.string().regex(REASON_RE).optional()
}).refine(m => m.ok === (m.reason === undefined), 'a refusal has a reason, an acceptance none')

export type HelloMessage = z.infer<typeof helloSchema>
export type ChallengeMessage = z.infer<typeof challengeSchema>
export type ProofMessage = z.infer<typeof proofSchema>
export type OutcomeMessage = z.infer<typeof outcomeSchema>
export type DidAuthMessage = HelloMessage | ChallengeMessage | ProofMessage | OutcomeMessage
export type MessageType = DidAuthMessage['type']
export type MessageOf<T extends MessageType> = Extract<DidAuthMessage, { type: T }>

const SCHEMAS: { [T in MessageType]: z.ZodType<MessageOf<T>> } = {
  hello: helloSchema,
  challenge: challengeSchema,
  proof: proofSchema,
  outcome: outcomeSchema
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

/** Encodes a message as the payload of one frame. */
export function encodeMessage (message: DidAuthMessage): Uint8Array {
  const bytes = utf8Encoder.encode(JSON.stringify(message))
  if (bytes.byteLength > MAX_MESSAGE_BYTES) throw new DidAuthError('oversized_message', `a ${message.type} message would be ${bytes.byteLength} bytes, over ${MAX_MESSAGE_BYTES}`)
  return bytes
}

/**
 * Decodes a frame payload as one of the message types expected at this step. Anything else — not UTF-8, not
 * JSON, not an object, another type, an unknown member, a value out of bounds — is `bad_message`.
 */
export function decodeMessage<T extends MessageType> (payload: Uint8Array, expected: readonly T[]): MessageOf<T> {
  if (payload.byteLength > MAX_MESSAGE_BYTES) throw new DidAuthError('oversized_message', `a message of ${payload.byteLength} bytes, over ${MAX_MESSAGE_BYTES}`)
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(payload))
  } catch {
    throw new DidAuthError('bad_message', 'the message is not UTF-8 JSON')
  }
  const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined
  if (!expected.includes(type as T)) {
    throw new DidAuthError('bad_message', `expected a ${expected.join(' or ')} message, got ${typeof type === 'string' && type.length <= 16 ? `"${type}"` : 'something else'}`)
  }
  const parsed = SCHEMAS[type as T].safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    // The path and the rule only: never the value.
    throw new DidAuthError('bad_message', `malformed ${String(type)} message at "${issue?.path.join('.') ?? ''}": ${issue?.message ?? 'invalid'}`)
  }
  return parsed.data
}
