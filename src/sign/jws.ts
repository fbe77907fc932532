/**
 * Detached JWS (RFC 7515 §7.2 compact serialization with the payload left out, Appendix F) over a post or a
 * file: `BASE64URL(header) + '..' + BASE64URL(signature)`, the signature over
 * `BASE64URL(header) + '.' + BASE64URL(payload)` as in any JWS, so every JOSE library verifies it once given
 * the payload. The payload is the caller's bytes, or a JSON value serialized by RFC 8785 (JCS), so that a
 * verifier can rebuild the exact bytes from the same JSON. Header: `alg: EdDSA`, `kid` the key's DID URL.
 */
import { createJWS } from 'did-jwt'
import { base64url } from 'multiformats/bases/base64'
import { SignError } from './errors.ts'
import { joseSigner } from './signer.ts'
import { MAX_JWS_PAYLOAD_BYTES } from '../shared-constants.ts'
import type { KeySigner } from './signer.ts'

export { MAX_JWS_PAYLOAD_BYTES }

export type JwsPayload = { bytes: Uint8Array } | { json: unknown }

export interface SignedJws {
  /** `header..signature`. */
  jws: string
  /** BASE64URL of the bytes signed (for JSON: its JCS serialization). */
  payload: string
}

export async function signDetachedJws (key: KeySigner, payload: JwsPayload): Promise<SignedJws> {
  const header = { alg: 'EdDSA', kid: key.keyId }
  let compact: string
  if ('bytes' in payload) {
    if (payload.bytes.length > MAX_JWS_PAYLOAD_BYTES) throw new SignError('too_large', `the payload is larger than ${MAX_JWS_PAYLOAD_BYTES} bytes`)
    compact = await createJWS(base64url.baseEncode(payload.bytes), joseSigner(key), header)
  } else {
    if (payload.json === undefined) throw new SignError('invalid_request', 'no JSON payload to sign')
    // did-jwt serializes the header and the payload by JCS (RFC 8785) with `canonicalize`.
    compact = await createJWS(payload.json as Record<string, unknown>, joseSigner(key), header, { canonicalize: true })
  }
  const [protectedHeader, encoded, signature] = compact.split('.') as [string, string, string]
  if (base64url.baseDecode(encoded).length > MAX_JWS_PAYLOAD_BYTES) throw new SignError('too_large', `the payload is larger than ${MAX_JWS_PAYLOAD_BYTES} bytes`)
  return { jws: `${protectedHeader}..${signature}`, payload: encoded }
}
