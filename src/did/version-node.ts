/**
 * Version nodes: the dag-cbor objects an IPNS record of a did:ipid points at. Each carries one version of the
 * DID document, links the previous version, names the update keys that may sign the next version, and is
 * signed. Encode, sign, decode and check one node on its own; chains are checked in `history.ts`.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import { InvalidVersionNodeError } from '../errors.ts'
import { deactivatedDocument, MAX_DOCUMENT_BYTES, validateDocument } from './document.ts'
import { ed25519ToMultikey, multikeyToEd25519 } from './keys.ts'
import { formatTime, parseTime } from './time.ts'
import { equals } from 'uint8arrays/equals'
import type { DidDocument } from './document.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/** Value of the `ipid` field: the version of this node format. A node without it is not a version node. */
export const VERSION_NODE_FORMAT = 1
/** Domain separation: the root key also signs IPNS records, so a node signature must never verify as one. */
export const VERSION_NODE_SIGNATURE_PREFIX = 'ipid-version-node:'
/** Largest encoded version node: the document limit plus room for links, keys and the signature. */
export const MAX_VERSION_NODE_BYTES = MAX_DOCUMENT_BYTES + 4 * 1024
/** Update keys (and pre-rotation commitments) one version may list. */
export const MAX_UPDATE_KEYS = 8
const ED25519_SIGNATURE_BYTES = 64

/** Everything in a version node except its signature. */
export interface UnsignedVersionNode {
  ipid: typeof VERSION_NODE_FORMAT
  /** 1 for the first version, then +1 per version. */
  version: number
  /** The previous version node; absent on the first. */
  prev?: CID
  /** When the DID was created (the first version's time); the same in every version. */
  created: string
  /** When this version was made. */
  updated: string
  deactivated: boolean
  document: DidDocument
  /**
   * Multikeys (Ed25519) allowed to sign the next version when this one makes no pre-rotation commitments.
   * Empty only when deactivated.
   */
  updateKeys: string[]
  /**
   * Pre-rotation: commitments to the keys that may sign the next version and that it may name as update keys
   * (see `updateKeyCommitment`). When present, they replace `updateKeys` as the next version's signers.
   */
  nextUpdateKeyHashes?: string[]
  /** Multikey of the key that signed this node. */
  signer: string
}

export interface VersionNode extends UnsignedVersionNode {
  /** Ed25519 signature over VERSION_NODE_SIGNATURE_PREFIX + dag-cbor(node without `signature`). */
  signature: Uint8Array
}

/** A node that decoded, hashed to its CID, validated and carries a signature valid under its `signer`. */
export interface DecodedVersionNode {
  cid: CID
  bytes: Uint8Array
  node: VersionNode
  /** `created` and `updated` in milliseconds since the epoch. */
  createdMs: number
  updatedMs: number
}

const multikeyList = z.array(z.string().min(1).max(128)).max(MAX_UPDATE_KEYS)
const nodeSchema = z.strictObject({
  ipid: z.literal(VERSION_NODE_FORMAT),
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  prev: z.custom<CID>(value => CID.asCID(value) !== null).optional(),
  created: z.string(),
  updated: z.string(),
  deactivated: z.boolean(),
  document: z.record(z.string(), z.unknown()),
  updateKeys: multikeyList,
  nextUpdateKeyHashes: z.array(z.string().min(1).max(128)).min(1).max(MAX_UPDATE_KEYS).optional(),
  signer: z.string().min(1).max(128),
  signature: z.instanceof(Uint8Array)
})

export function signingBytes (unsigned: UnsignedVersionNode): Uint8Array {
  const body = dagCbor.encode(withoutUndefined(unsigned))
  const prefix = new TextEncoder().encode(VERSION_NODE_SIGNATURE_PREFIX)
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix)
  out.set(body, prefix.length)
  return out
}

/** Signs and encodes a version node. `signer` is filled from the key. */
export async function signVersionNode (
  fields: Omit<UnsignedVersionNode, 'signer' | 'ipid'>,
  key: Ed25519PrivateKey
): Promise<{ cid: CID, bytes: Uint8Array, node: VersionNode }> {
  const unsigned: UnsignedVersionNode = { ipid: VERSION_NODE_FORMAT, ...fields, signer: ed25519ToMultikey(key.publicKey) }
  const signature = await key.sign(signingBytes(unsigned))
  const node: VersionNode = { ...unsigned, signature }
  const bytes = dagCbor.encode(withoutUndefined(node))
  const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
  return { cid, bytes, node }
}

/** True when decoded dag-cbor data is meant as a version node (rather than a legacy bare document). */
export function looksLikeVersionNode (value: unknown): boolean {
  return value !== null && typeof value === 'object' && 'ipid' in value && 'document' in value
}

/**
 * Decodes the block `bytes` fetched for `cid` as a version node of `did`, checking, in order: the codec and
 * size, that the bytes hash to the CID, the node's shape, its times, its document (whose id must be `did`),
 * its deactivation rules, and that the signature verifies under `signer`. Whether `signer` was allowed to
 * sign is a property of the chain (`history.ts`).
 */
export async function decodeVersionNode (cid: CID, bytes: Uint8Array, did: string): Promise<DecodedVersionNode> {
  if (cid.code !== dagCbor.code) {
    throw new InvalidVersionNodeError('wrong_codec', `a version node is dag-cbor; this CID has codec 0x${cid.code.toString(16)}`)
  }
  if (bytes.byteLength > MAX_VERSION_NODE_BYTES) {
    throw new InvalidVersionNodeError('node_too_large', `the version node is ${bytes.byteLength} bytes; the limit is ${MAX_VERSION_NODE_BYTES}`)
  }
  if (cid.multihash.code !== sha256.code) {
    throw new InvalidVersionNodeError('unsupported_hash', 'version nodes are addressed by sha2-256')
  }
  const digest = await sha256.digest(bytes)
  if (!equals(digest.bytes, cid.multihash.bytes)) {
    throw new InvalidVersionNodeError('cid_mismatch', 'the block does not hash to its CID')
  }
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidVersionNodeError('malformed_node', 'the block is not valid dag-cbor', { cause: err })
  }
  const parsed = nodeSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidVersionNodeError('malformed_node', `the version node is malformed at "${issue?.path.join('.') ?? ''}": ${issue?.message ?? 'invalid'}`)
  }
  const node = parsed.data as unknown as VersionNode
  const createdMs = parseTime(node.created)
  const updatedMs = parseTime(node.updated)
  if (createdMs === undefined || updatedMs === undefined) {
    throw new InvalidVersionNodeError('malformed_time', 'created and updated must be UTC times in whole seconds (YYYY-MM-DDTHH:MM:SSZ)')
  }
  if (updatedMs < createdMs) {
    throw new InvalidVersionNodeError('updated_before_created', 'updated is before created')
  }
  if ((node.version === 1) !== (node.prev === undefined)) {
    throw new InvalidVersionNodeError('malformed_node', 'the first version (and only it) has no prev link')
  }
  node.document = validateDocument(node.document, did)
  if (node.deactivated) {
    const onlyIdAndContext = Object.keys(node.document).every(k => k === 'id' || k === '@context')
    if (!onlyIdAndContext || node.updateKeys.length > 0 || node.nextUpdateKeyHashes !== undefined) {
      throw new InvalidVersionNodeError('deactivated_with_keys', 'a deactivated version carries no keys, services or update keys')
    }
  } else if (node.updateKeys.length === 0) {
    throw new InvalidVersionNodeError('no_update_keys', 'a version that is not deactivated must name at least one update key')
  }
  for (const key of node.updateKeys) {
    if (multikeyToEd25519(key) === undefined) {
      throw new InvalidVersionNodeError('malformed_update_key', 'update keys must be Ed25519 Multikeys')
    }
  }
  for (const commitment of node.nextUpdateKeyHashes ?? []) {
    if (!isSha256Commitment(commitment)) {
      throw new InvalidVersionNodeError('malformed_commitment', 'pre-rotation commitments are base58btc sha2-256 multihashes')
    }
  }
  const signer = multikeyToEd25519(node.signer)
  if (signer === undefined) {
    throw new InvalidVersionNodeError('malformed_signer', 'the signer must be an Ed25519 Multikey')
  }
  // Verify over the node exactly as decoded, not over the validated copy, so that no normalisation can
  // change what was signed.
  const { signature, ...unsigned } = value as VersionNode
  const valid = signature.byteLength === ED25519_SIGNATURE_BYTES && await signer.verify(signingBytes(unsigned), signature)
  if (!valid) {
    throw new InvalidVersionNodeError('bad_signature', 'the version node signature does not verify')
  }
  return { cid, bytes, node, createdMs, updatedMs }
}

function isSha256Commitment (text: string): boolean {
  try {
    const bytes = base58btc.baseDecode(text)
    return bytes.length === 34 && bytes[0] === sha256.code && bytes[1] === 32
  } catch {
    return false
  }
}

function withoutUndefined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}


export interface VersionContent {
  document: DidDocument
  /** Keys allowed to sign the next version. */
  updateKeys: string[]
  /** Pre-rotation commitments to the next version's update keys. */
  nextUpdateKeyHashes?: string[]
}

/** The first version of a DID, signed by its root key. `nowMs` is floored to whole seconds. */
export async function createFirstVersion (content: VersionContent, rootKey: Ed25519PrivateKey, nowMs: number): Promise<DecodedVersionNode> {
  const time = formatTime(nowMs)
  const { cid, bytes } = await signVersionNode({
    version: 1,
    created: time,
    updated: time,
    deactivated: false,
    ...content
  }, rootKey)
  return decodeVersionNode(cid, bytes, content.document.id)
}

/**
 * The version after `prev`, signed by `updateKey` (which must be one of prev's update keys for the chain to
 * verify). A deactivating version carries the empty document and no update keys.
 */
export async function createNextVersion (
  prev: DecodedVersionNode,
  content: VersionContent | { deactivate: true },
  updateKey: Ed25519PrivateKey,
  nowMs: number
): Promise<DecodedVersionNode> {
  const did = prev.node.document.id
  const fields = 'deactivate' in content
    ? { deactivated: true, document: deactivatedDocument(did), updateKeys: [] }
    : { deactivated: false, ...content }
  const { cid, bytes } = await signVersionNode({
    version: prev.node.version + 1,
    prev: prev.cid,
    created: prev.node.created,
    // Never before the previous version, even if the local clock is behind.
    updated: formatTime(Math.max(nowMs, prev.updatedMs)),
    ...fields
  }, updateKey)
  return decodeVersionNode(cid, bytes, did)
}
