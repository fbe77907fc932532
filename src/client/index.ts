/**
 * `ipidd/resolver`: what apps import to resolve did:ipid DIDs and verify what their owners sign, in Node or in
 * a browser bundle. No IPFS node, no HTTP server, no storage, no `node:` modules: the resolver is a remote ipidd
 * (`remoteResolver(url)`), or an in-process one the app made with `createNodeResolver()` from `ipidd`.
 *
 *   const resolver = new Resolver(getResolver(remoteResolver('https://resolver.example')))
 *   const { issuer, signer, versionId } = await verifyJwt(jwt, { audience, resolver: remoteResolver(url) })
 */
export { getResolver } from '../resolver/driver.ts'
export type { IpidResolvable } from '../resolver/driver.ts'
export { remoteResolver, REMOTE_RESOLVE_TIMEOUT_MS, MAX_REMOTE_RESPONSE_BYTES } from '../resolver/remote.ts'
export type { DidResolutionResult, DocumentMetadata, ResolutionMetadata, ResolveOptions } from '../resolver/result.ts'
export type { DidDocument } from '../did/document.ts'
export { verifyJwt, JwtVerificationError, JWT_VERIFICATION_REASONS } from './verify.ts'
export type { JwtVerificationReason, ProofPurpose, VerifiedJwt, VerifyJwtOptions } from './verify.ts'
