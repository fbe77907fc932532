/**
 * JWTs an owner issues (did-jwt, EdDSA): `iss` is the DID, `iat` the signing time, `exp` always set (a given
 * time or a lifetime, bounded), and the header's `kid` the absolute DID URL of the key, so a verifier knows
 * which key to expect (did-jwt itself tries every key of the relationship: spec/did-ipid.md §Signing).
 */
import { createJWT } from 'did-jwt'
import { joseSigner } from './signer.ts'
import { SignError } from './errors.ts'
import type { KeySigner } from './signer.ts'

/** A login token is used at once: five minutes unless the caller says otherwise. */
export const DEFAULT_JWT_LIFETIME_S = 5 * 60
/** The longest lifetime signed: statements may live long, but never unbounded. */
export const MAX_JWT_LIFETIME_S = 365 * 24 * 60 * 60
/** The caller's extra claims, as JSON: a login or a post needs a few hundred bytes. */
export const MAX_JWT_CLAIMS_BYTES = 8 * 1024
/** An audience (a URL or a DID) and a nonce, each. */
export const MAX_AUDIENCE_CHARS = 2048
export const MAX_AUDIENCES = 16
export const MAX_NONCE_CHARS = 512
/** Claims the signer sets itself; the caller gives `aud` and `nonce` by name, never inside `claims`. */
export const RESERVED_CLAIMS = ['iss', 'iat', 'exp', 'aud', 'nonce'] as const

export interface JwtRequest {
  aud?: string | string[]
  nonce?: string
  /** Expiry in seconds since the epoch; or `lifetimeS` from now. Neither: DEFAULT_JWT_LIFETIME_S. */
  exp?: number
  lifetimeS?: number
  claims?: Record<string, unknown>
}

export interface SignedJwt {
  jwt: string
  iat: number
  exp: number
}

export async function signJwt (key: KeySigner, request: JwtRequest, nowMs: number): Promise<SignedJwt> {
  const iat = Math.floor(nowMs / 1000)
  if (request.exp !== undefined && request.lifetimeS !== undefined) throw new SignError('invalid_request', 'give exp or a lifetime, not both')
  const exp = request.exp ?? iat + (request.lifetimeS ?? DEFAULT_JWT_LIFETIME_S)
  if (!Number.isSafeInteger(exp) || exp <= iat) throw new SignError('bad_expiry', 'the expiry must be a whole number of seconds after now')
  if (exp - iat > MAX_JWT_LIFETIME_S) throw new SignError('bad_expiry', `a JWT may live ${MAX_JWT_LIFETIME_S} s at most`)
  const claims = request.claims ?? {}
  const reserved = RESERVED_CLAIMS.filter(name => Object.hasOwn(claims, name))
  if (reserved.length > 0) throw new SignError('reserved_claim', `claims may not set ${reserved.join(', ')}: the daemon sets iss, iat and exp; give aud and nonce by name`)
  if (new TextEncoder().encode(JSON.stringify(claims)).length > MAX_JWT_CLAIMS_BYTES) throw new SignError('too_large', `the claims are larger than ${MAX_JWT_CLAIMS_BYTES} bytes`)
  const payload = {
    ...claims,
    iat,
    exp,
    ...(request.aud === undefined ? {} : { aud: request.aud }),
    ...(request.nonce === undefined ? {} : { nonce: request.nonce })
  }
  const jwt = await createJWT(payload, { issuer: key.did, signer: joseSigner(key), alg: 'EdDSA' }, { alg: 'EdDSA', typ: 'JWT', kid: key.keyId })
  return { jwt, iat, exp }
}
