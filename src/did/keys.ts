/**
 * Ed25519 public keys in the encodings DID documents use: Multikey (`publicKeyMultibase`, `z6Mk…`) and
 * JsonWebKey2020 (OKP / Ed25519 JWK); and the pre-rotation commitment to a key.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { base58btc } from 'multiformats/bases/base58'
import { base64url } from 'multiformats/bases/base64'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Ed25519PublicKey } from '@libp2p/interface'

/** Multicodec `ed25519-pub` as its varint bytes. */
const ED25519_PUB_PREFIX = Uint8Array.of(0xed, 0x01)
export const ED25519_PUBLIC_KEY_BYTES = 32

export interface Ed25519Jwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
}

/** Encodes an Ed25519 public key as a Multikey string (`z6Mk…`). */
export function ed25519ToMultikey (publicKey: Ed25519PublicKey | Uint8Array): string {
  const raw = publicKey instanceof Uint8Array ? publicKey : publicKey.raw
  const bytes = new Uint8Array(ED25519_PUB_PREFIX.length + raw.length)
  bytes.set(ED25519_PUB_PREFIX)
  bytes.set(raw, ED25519_PUB_PREFIX.length)
  return base58btc.encode(bytes)
}

/** Decodes a Multikey string holding an Ed25519 key; returns undefined for anything else. */
export function multikeyToEd25519 (multikey: string): Ed25519PublicKey | undefined {
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(multikey)
  } catch {
    return undefined
  }
  if (bytes.length !== ED25519_PUB_PREFIX.length + ED25519_PUBLIC_KEY_BYTES ||
      bytes[0] !== ED25519_PUB_PREFIX[0] || bytes[1] !== ED25519_PUB_PREFIX[1]) {
    return undefined
  }
  return publicKeyFromRaw(bytes.subarray(ED25519_PUB_PREFIX.length)) as Ed25519PublicKey
}

export function ed25519ToJwk (publicKey: Ed25519PublicKey | Uint8Array): Ed25519Jwk {
  const raw = publicKey instanceof Uint8Array ? publicKey : publicKey.raw
  return { kty: 'OKP', crv: 'Ed25519', x: base64url.baseEncode(raw) }
}

/** Decodes an Ed25519 public JWK; returns undefined for anything else (including a JWK with a private part). */
export function jwkToEd25519 (jwk: Record<string, unknown>): Ed25519PublicKey | undefined {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || 'd' in jwk) {
    return undefined
  }
  let raw: Uint8Array
  try {
    raw = base64url.baseDecode(jwk.x)
  } catch {
    return undefined
  }
  return raw.length === ED25519_PUBLIC_KEY_BYTES ? publicKeyFromRaw(raw) as Ed25519PublicKey : undefined
}

/**
 * The pre-rotation commitment to an update key: base58btc of the sha2-256 multihash of the key's Multikey
 * string (the construction did:webvh uses for `nextKeyHashes`).
 */
export async function updateKeyCommitment (multikey: string): Promise<string> {
  const digest = await sha256.digest(new TextEncoder().encode(multikey))
  return base58btc.baseEncode(digest.bytes)
}
