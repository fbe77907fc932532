/**
 * Deterministic test material: Ed25519 keys from fixed seeds (Ed25519 signatures are deterministic, so every
 * node, record and vector built from them is reproducible), fixed times, and a fixed RSA public key for
 * legacy documents. These keys are public test keys: never use them for anything else.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { buildDocument } from '../../src/did/document.ts'
import { didFromPublicKey } from '../../src/did/identifier.ts'
import { ed25519ToMultikey, updateKeyCommitment } from '../../src/did/keys.ts'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import type { DidDocument, DocumentSpec } from '../../src/did/document.ts'
import type { NormalisedDocument } from '../../src/did/legacy.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/** 2026-01-01T00:00:00Z: the clock every fixture starts from. */
export const T0 = Date.UTC(2026, 0, 1)
export const HOUR_MS = 60 * 60 * 1000
export const DAY_MS = 24 * HOUR_MS

export const RSA_PUBLIC_KEY_PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5KxvQIgXlXNLRLf6oDOW\nSMwyG/kLf8z0OfmJDpcInHi6l0cTLRw9RtKjyjIffultFsd8RtKqazFliOpYkXEV\nPo4cDsS7l9gaseIaZnAL2Ma3tuQV1C5MJWlxa1/UkqSHCJuQHHaNguTC/rpd3HZC\nR8XlbOIMkSagtb2gtWLkKLuZSR+PwDaJlB4LEkdRypM/1aVfO1/RBkM6wGbIhRCJ\nTtqn/iHKpjKySvsnF+YRbutaBykyC11bnOSqsHxJTj5oNYyNn7Zwq59+AgXjBL+f\ns416KMXQ7NtYhx3suVKOwy6s1XPH58HJrd5iNu04PBNam/5k4C9IBVx7C/t9fsCV\nhwIDAQAB\n-----END PUBLIC KEY-----\n"
export const RSA_PUBLIC_KEY_DER_HEX = '30820122300d06092a864886f70d01010105000382010f003082010a0282010100e4ac6f40881795734b44b7faa0339648cc321bf90b7fccf439f9890e97089c78ba9747132d1c3d46d2a3ca321f7ee96d16c77c46d2aa6b316588ea589171153e8e1c0ec4bb97d81ab1e21a66700bd8c6b7b6e415d42e4c2569716b5fd492a487089b901c768d82e4c2feba5ddc764247c5e56ce20c9126a0b5bda0b562e428bb99491f8fc03689941e0b124751ca933fd5a55f3b5fd106433ac066c88510894edaa7fe21caa632b24afb2717e6116eeb5a0729320b5d5b9ce4aab07c494e3e68358c8d9fb670ab9f7e0205e304bf9fb38d7a28c5d0ecdb58871decb9528ec32eacd573c7e7c1c9adde6236ed383c135a9bfe64e02f48055c7b0bfb7d7ec095870203010001'
export const ED25519_PUBLIC_KEY_PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAC9sfJnr0LfO5ymgP56jYdw7zfQju/Qlfq7YTxrv8a84=\n-----END PUBLIC KEY-----\n"

/**
 * An Ed25519 key from a fixed seed: for n < 256 the byte `n` repeated 32 times (the vectors use these); above,
 * `n` as four big-endian bytes followed by 0xa5 filler — never all one byte, so no two n share a key.
 */
export async function seededKey (n: number): Promise<Ed25519PrivateKey> {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`seed number ${n} out of range`)
  const seed = new Uint8Array(32)
  if (n < 256) {
    seed.fill(n)
  } else {
    seed.fill(0xa5)
    new DataView(seed.buffer).setUint32(0, n)
  }
  return generateKeyPairFromSeed('Ed25519', seed)
}

/** The keys of one test identity: root (names the DID), update keys, and authentication keys. */
export interface TestIdentity {
  root: Ed25519PrivateKey
  update: Ed25519PrivateKey[]
  auth: Ed25519PrivateKey[]
  did: string
}

export async function testIdentity (base = 1): Promise<TestIdentity> {
  const root = await seededKey(base)
  const update = [await seededKey(base + 1), await seededKey(base + 2), await seededKey(base + 3)]
  const auth = [await seededKey(base + 4), await seededKey(base + 5), await seededKey(base + 6)]
  return { root, update, auth, did: didFromPublicKey(root.publicKey) }
}

export function documentWithAuthKey (did: string, auth: Ed25519PrivateKey, extra: Partial<DocumentSpec> = {}): DidDocument {
  return buildDocument({ did, keys: [{ fragment: 'auth-1', publicKey: auth.publicKey, purposes: ['authentication', 'assertionMethod'] }], ...extra })
}

export function multikeyOf (key: Ed25519PrivateKey): string {
  return ed25519ToMultikey(key.publicKey)
}

/**
 * A valid chain of `length` versions (oldest first): version 1 signed by the root key, each later version by
 * update key 0, with the authentication key rotated at every version.
 */
export async function buildChain (id: TestIdentity, length: number, startMs = T0): Promise<DecodedVersionNode[]> {
  const updateKeys = [multikeyOf(id.update[0]!)]
  const first = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys }, id.root, startMs)
  const chain = [first]
  for (let i = 1; i < length; i++) {
    const auth = id.auth[i % id.auth.length]!
    chain.push(await createNextVersion(chain[i - 1]!, { document: documentWithAuthKey(id.did, auth), updateKeys }, id.update[0]!, startMs + i * HOUR_MS))
  }
  return chain
}

export async function commitmentsTo (...keys: Ed25519PrivateKey[]): Promise<string[]> {
  return Promise.all(keys.map(async k => updateKeyCommitment(multikeyOf(k))))
}

/** A block loader over a set of blocks; an unknown CID fails as a missing block would. */
export function loaderOf (blocks: Array<{ cid: CID, bytes: Uint8Array }>): (cid: CID) => Promise<Uint8Array> {
  const byCid = new Map(blocks.map(b => [b.cid.toString(), b.bytes]))
  return async (cid: CID): Promise<Uint8Array> => {
    const bytes = byCid.get(cid.toString())
    if (bytes === undefined) throw new Error(`no block ${cid.toString()}`)
    return bytes
  }
}

/** A normalisation result in the JSON shape of the legacy vectors' `expected`. */
export function normalisedAsJson (result: NormalisedDocument): Record<string, unknown> {
  return {
    document: result.document,
    deactivated: result.deactivated,
    changes: result.changes,
    ...(result.previous === undefined ? {} : { previous: result.previous.toString() }),
    ...(result.created === undefined ? {} : { created: result.created }),
    ...(result.updated === undefined ? {} : { updated: result.updated })
  }
}
