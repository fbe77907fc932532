/**
 * What an owner signs with: one key of the current DID document, chosen by verification relationship. The
 * private key stays with the identities (src/identity/identities.ts `documentSigner`); this module sees only a
 * signing function, the key's DID URL and the document version that lists it.
 */
import { base64url } from 'multiformats/bases/base64'
import type { Signer } from 'did-jwt'
import type { DocumentSigner } from '../identity/identities.ts'

/** The two relationships an owner signs for: logins (`authentication`) and statements (`assertionMethod`). */
export const SIGNING_PURPOSES = ['authentication', 'assertionMethod'] as const
export type SigningPurpose = typeof SIGNING_PURPOSES[number]

/** A key of the current document and the version that lists it (Identities.documentSigner). */
export type KeySigner = DocumentSigner

/** did-jwt's signer shape (base64url signature of the signing input) over a KeySigner. */
export function joseSigner (key: KeySigner): Signer {
  return async data => base64url.baseEncode(await key.sign(typeof data === 'string' ? new TextEncoder().encode(data) : data))
}
