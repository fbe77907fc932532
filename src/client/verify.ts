/**
 * `verifyJwt(jwt, { audience, resolver })`: did-jwt's `verifyJWT` over a did:ipid resolver, with the checks an
 * app needs that did-jwt leaves out:
 * - a deactivated issuer is refused as such (reason `deactivated`), not as did-jwt's `no_suitable_keys` (a
 *   deactivated document lists no keys);
 * - when the header names a key (`kid`), that key must be the one that verified: did-jwt ignores `kid` when `iss`
 *   is a bare DID and tries every key of the relationship (reason `kid_mismatch` otherwise);
 * - every failure is a `JwtVerificationError` with a stable `reason`.
 * The answer names the issuer, the key that signed, and the version of the issuer's document that held it.
 */
import { JWT_ERROR, decodeJWT, verifyJWT } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { getResolver } from '../resolver/driver.ts'
import type { IpidResolvable } from '../resolver/driver.ts'
import type { DocumentMetadata } from '../resolver/result.ts'
import type { JWTPayload } from 'did-jwt'
import type { DIDResolutionResult, Resolvable } from 'did-resolver'

/** The verification relationship the signing key must be listed under (did-jwt's `proofPurpose`). */
export type ProofPurpose = 'authentication' | 'assertionMethod' | 'capabilityInvocation' | 'capabilityDelegation'

/**
 * Why a JWT was refused. did-jwt's codes (`invalid_jwt`: malformed, expired, not yet valid; `invalid_signature`;
 * `no_suitable_keys`: the document lists no key of the JWT's algorithm under the proof purpose; `not_supported`:
 * the algorithm; `resolver_error`: the issuer did not resolve), did-jwt's `invalid_config` for a wrong audience
 * named `invalid_audience`, and ipidd's own: `deactivated`, `kid_mismatch`.
 */
export const JWT_VERIFICATION_REASONS = ['invalid_jwt', 'invalid_signature', 'invalid_audience', 'no_suitable_keys', 'not_supported',
  'resolver_error', 'deactivated', 'kid_mismatch'] as const
export type JwtVerificationReason = typeof JWT_VERIFICATION_REASONS[number]

export class JwtVerificationError extends Error {
  readonly reason: JwtVerificationReason
  /** With `resolver_error`: the DID Resolution error code of the issuer's resolution (`notFound`, `internalError`, …). */
  readonly resolutionError?: string

  constructor (reason: JwtVerificationReason, message: string, options: ErrorOptions & { resolutionError?: string } = {}) {
    super(message, options)
    this.name = 'JwtVerificationError'
    this.reason = reason
    if (options.resolutionError !== undefined) this.resolutionError = options.resolutionError
  }
}

export interface VerifyJwtOptions {
  /**
   * Resolves the issuer: an ipid resolver (`remoteResolver(url)`, `createNodeResolver()`, the daemon's `Resolver`),
   * or a did-resolver `Resolver` (for issuers of other methods too), used as it is.
   */
  resolver: IpidResolvable | Resolvable
  /** Who the JWT must be addressed to: required when the JWT has `aud`, which must then contain it. */
  audience?: string
  /** The relationship the signing key must be in; by default any verification method of the document. */
  proofPurpose?: ProofPurpose
}

export interface VerifiedJwt {
  payload: JWTPayload
  /** The issuer's DID. */
  issuer: string
  /** The id of the verification method that verified the signature: an absolute DID URL (`did:ipid:k51…#auth-1`). */
  signer: string
  /** The version of the issuer's document that held the key (did:ipid; absent for methods without versions). */
  versionId?: string
  documentMetadata: DocumentMetadata
  didResolutionResult: DIDResolutionResult
}

/** did-jwt's error codes, as ipidd names them. */
const DID_JWT_CODES: Readonly<Record<string, JwtVerificationReason>> = {
  [JWT_ERROR.INVALID_JWT]: 'invalid_jwt',
  [JWT_ERROR.INVALID_SIGNATURE]: 'invalid_signature',
  [JWT_ERROR.INVALID_AUDIENCE]: 'invalid_audience',
  [JWT_ERROR.NO_SUITABLE_KEYS]: 'no_suitable_keys',
  [JWT_ERROR.NOT_SUPPORTED]: 'not_supported',
  [JWT_ERROR.RESOLVER_ERROR]: 'resolver_error'
}

export async function verifyJwt (jwt: string, options: VerifyJwtOptions): Promise<VerifiedJwt> {
  const { audience, proofPurpose } = options
  // What the issuer resolved to, kept so that a failure can say the DID is deactivated.
  let resolved: DIDResolutionResult | undefined
  const inner = asResolvable(options.resolver)
  const resolver: Resolvable = {
    resolve: async (didUrl, resolveOptions) => {
      resolved = await inner.resolve(didUrl, resolveOptions)
      return resolved
    }
  }
  let verified
  try {
    verified = await verifyJWT(jwt, { resolver, ...(audience === undefined ? {} : { audience }), ...(proofPurpose === undefined ? {} : { proofPurpose }) })
  } catch (err) {
    if (isDeactivated(resolved)) throw deactivatedError(err)
    // did-jwt's messages start with a stable code (`invalid_signature: …`).
    const message = err instanceof Error ? err.message : String(err)
    const reason = DID_JWT_CODES[/^([a-z_]+):/.exec(message)?.[1] ?? ''] ?? 'invalid_jwt'
    const resolutionError = reason === 'resolver_error' ? resolved?.didResolutionMetadata.error : undefined
    throw new JwtVerificationError(reason, message, { cause: err, ...(resolutionError === undefined ? {} : { resolutionError }) })
  }
  const { didResolutionResult, issuer, signer, payload } = verified
  if (isDeactivated(didResolutionResult)) throw deactivatedError()
  const kid = decodeJWT(jwt).header.kid
  if (typeof kid === 'string' && absoluteKeyId(kid, issuer) !== signer.id) {
    throw new JwtVerificationError('kid_mismatch', `the header names the key ${kid}, but ${signer.id} verified the signature`)
  }
  const documentMetadata = didResolutionResult.didDocumentMetadata as DocumentMetadata
  return {
    payload,
    issuer,
    signer: signer.id,
    ...(typeof documentMetadata.versionId === 'string' ? { versionId: documentMetadata.versionId } : {}),
    documentMetadata,
    didResolutionResult
  }
}

/** A did-resolver `Resolver` as it is (this copy's class, or another copy's: it holds a registry); an ipid resolver wrapped in one. */
function asResolvable (resolver: IpidResolvable | Resolvable): Resolvable {
  if (resolver instanceof DidResolver || 'registry' in resolver) return resolver as Resolvable
  return new DidResolver(getResolver(resolver as IpidResolvable))
}

function isDeactivated (result: DIDResolutionResult | undefined): boolean {
  return result?.didDocumentMetadata?.deactivated === true
}

function deactivatedError (cause?: unknown): JwtVerificationError {
  return new JwtVerificationError('deactivated', 'the issuer\'s DID is deactivated: its document lists no keys, so nothing it signs verifies', { cause })
}

/** A `kid` as an absolute DID URL: a relative one (`#auth-1`) is taken against the issuer's DID. */
function absoluteKeyId (kid: string, issuer: string): string {
  return kid.startsWith('#') ? `${issuer}${kid}` : kid
}
