/**
 * Version chains: who may sign which version, and whether a newly offered head extends the chain a resolver
 * has already verified. The rules (spec/did-ipid.md, "Version chain"):
 * - the first version (version 1, no prev) is signed by the root key, the key the DID names;
 * - version n+1 links version n, keeps `created` and does not go back in time;
 * - who signs version n+1: when version n committed to next update keys (pre-rotation, `nextUpdateKeyHashes`),
 *   a key it committed to — and every update key version n+1 lists must be one of those commitments too; so
 *   a thief of version n's update keys can sign nothing. Without commitments: one of version n's `updateKeys`;
 * - the root key is never an update key, so that holding it alone cannot extend a chain;
 * - nothing follows a deactivated version.
 * Loading blocks is the caller's: `load` is injected, so this module does no I/O of its own.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { ForkError, InvalidChainError, InvalidDocumentError, InvalidVersionNodeError } from '../errors.ts'
import { ed25519ToMultikey, updateKeyCommitment } from './keys.ts'
import { decodeVersionNode } from './version-node.ts'
import type { IpidName } from './identifier.ts'
import type { DecodedVersionNode } from './version-node.ts'
import type { AbortOptions } from '@libp2p/interface'

/** Longest chain a resolver walks; a DID that needs more history must move to a new DID. */
export const MAX_CHAIN_DEPTH = 10_000
/**
 * Most bytes one walk loads. Real versions are 1–3 KiB, so this admits thousands of them, while a hostile
 * chain of maximal nodes (MAX_VERSION_NODE_BYTES each) cannot make a resolver fetch hundreds of MiB.
 */
export const MAX_CHAIN_BYTES = 32 * 1024 * 1024

/** Fetches the bytes of a block by CID (from a blockstore, the network, a cache, a test vector…). */
export type BlockLoader = (cid: CID, options?: AbortOptions) => Promise<Uint8Array>

/** The head of a chain already verified down to its first version. */
export interface VerifiedHead {
  cid: CID
  version: number
}

/** Checks that `node` is a valid first version of the DID `name`. */
export function verifyGenesis (node: DecodedVersionNode, name: IpidName): void {
  const { node: n } = node
  if (n.version !== 1 || n.prev !== undefined) {
    throw new InvalidChainError('not_genesis', 'the chain does not start at version 1')
  }
  if (n.created !== n.updated) {
    throw new InvalidChainError('genesis_times_differ', 'the first version must have updated equal to created')
  }
  if (name.rootPublicKey?.type !== 'Ed25519') {
    throw new InvalidChainError('root_key_not_ed25519', 'version chains need an Ed25519 root key inlined in the DID')
  }
  if (n.signer !== ed25519ToMultikey(name.rootPublicKey)) {
    throw new InvalidChainError('genesis_not_signed_by_root', 'the first version is not signed by the root key the DID names')
  }
}

/** Checks that a version does not hand chain authority to the root key (plainly or by commitment). */
export async function verifyRootKeyNotUpdateKey (node: DecodedVersionNode, name: IpidName): Promise<void> {
  if (name.rootPublicKey?.type !== 'Ed25519') return
  const root = ed25519ToMultikey(name.rootPublicKey)
  const rootCommitment = await updateKeyCommitment(root)
  if (node.node.updateKeys.includes(root) || (node.node.nextUpdateKeyHashes ?? []).includes(rootCommitment)) {
    throw new InvalidChainError('root_key_as_update_key', 'the root key must not be an update key: holding it alone could then extend the chain')
  }
}

/** Checks that `next` is a valid successor of `prev`. */
export async function verifyLink (prev: DecodedVersionNode, next: DecodedVersionNode): Promise<void> {
  const p = prev.node
  const n = next.node
  if (n.prev === undefined || !sameCid(n.prev, prev.cid)) {
    throw new InvalidChainError('broken_link', 'the version does not link the previous version')
  }
  if (p.deactivated) {
    throw new InvalidChainError('after_deactivation', 'a deactivated DID has no later versions')
  }
  if (n.version <= p.version) {
    throw new InvalidChainError('version_goes_back', `version ${n.version} follows version ${p.version}`)
  }
  if (n.version !== p.version + 1) {
    throw new InvalidChainError('version_skips', `version ${n.version} follows version ${p.version}`)
  }
  if (n.created !== p.created) {
    throw new InvalidChainError('created_changed', 'created must stay the same in every version')
  }
  if (next.updatedMs < prev.updatedMs) {
    throw new InvalidChainError('time_goes_back', 'the version is older than the version before it')
  }
  if (p.nextUpdateKeyHashes === undefined) {
    if (!p.updateKeys.includes(n.signer)) {
      throw new InvalidChainError('signer_not_authorised', 'the version is not signed by an update key of the previous version')
    }
    return
  }
  // Pre-rotation: only keys the previous version committed to may sign, and be named as update keys.
  const committed = new Set(p.nextUpdateKeyHashes)
  if (!committed.has(await updateKeyCommitment(n.signer))) {
    throw new InvalidChainError('signer_not_committed', 'the version is not signed by a key the previous version committed to (pre-rotation)')
  }
  for (const key of n.updateKeys) {
    if (!committed.has(await updateKeyCommitment(key))) {
      throw new InvalidChainError('prerotation_broken', 'an update key was not committed to by the previous version (pre-rotation)')
    }
  }
}

export interface WalkOptions extends AbortOptions {
  /** The head already verified for this DID, if any: the walk stops there instead of at the first version. */
  known?: VerifiedHead
  maxDepth?: number
}

/** The outcome of offering a head for a DID. */
export type ChainDecision =
  /** The offered head is the verified head. */
  | { kind: 'same' }
  /** The offered head is an ancestor of the verified head (a stale record): keep the verified one. */
  | { kind: 'older' }
  /** The offered head extends the verified chain (or starts one): `nodes` are the new versions, newest first. */
  | { kind: 'extends', nodes: DecodedVersionNode[] }

/**
 * Walks the chain from `head` back to the verified head (`options.known`) or, without one, to the first
 * version, verifying every node and link on the way. Throws `ForkError` when the offered head does not
 * descend from the verified one, `InvalidChainError` / `InvalidVersionNodeError` for a bad node or link.
 */
export async function walkChain (head: CID, load: BlockLoader, name: IpidName, options: WalkOptions = {}): Promise<ChainDecision> {
  const { known } = options
  if (known === undefined) {
    return walk(head, load, name, options)
  }
  if (sameCid(known.cid, head)) {
    return { kind: 'same' }
  }
  try {
    return await walk(head, load, name, options)
  } catch (err) {
    // Against a verified chain, every invalid offer is a refused fork, whatever rule it broke.
    if (err instanceof InvalidChainError || err instanceof InvalidVersionNodeError || err instanceof InvalidDocumentError) {
      throw new ForkError(err.reason, `the offered head does not validly extend the verified chain: ${err.message}`,
        known.cid.toString(), head.toString(), { cause: err })
    }
    throw err
  }
}

async function walk (head: CID, load: BlockLoader, name: IpidName, options: WalkOptions): Promise<ChainDecision> {
  const { known } = options
  const maxDepth = options.maxDepth ?? MAX_CHAIN_DEPTH
  const nodes: DecodedVersionNode[] = []
  let bytesLoaded = 0
  let cid: CID | undefined = head
  while (cid !== undefined) {
    if (nodes.length >= maxDepth) {
      throw new InvalidChainError('chain_too_long', `the chain is longer than ${maxDepth} versions`)
    }
    const bytes = await load(cid, options)
    bytesLoaded += bytes.byteLength
    if (bytesLoaded > MAX_CHAIN_BYTES) {
      throw new InvalidChainError('chain_too_large', `the chain holds more than ${MAX_CHAIN_BYTES} bytes`)
    }
    const node = await decodeVersionNode(cid, bytes, name.did)
    await verifyRootKeyNotUpdateKey(node, name)
    const newer = nodes.at(-1)
    if (newer !== undefined) {
      await verifyLink(node, newer)
    } else if (known !== undefined && node.node.version < known.version) {
      return olderOrFork(node, known, load, options)
    }
    if (known !== undefined && node.node.version <= known.version) {
      if (node.node.version === known.version && sameCid(node.cid, known.cid)) {
        return { kind: 'extends', nodes }
      }
      throw new ForkError('fork', `version ${node.node.version} offered for this DID is not the version already verified`,
        known.cid.toString(), head.toString())
    }
    nodes.push(node)
    cid = node.node.prev
  }
  const first = nodes.at(-1)
  if (first === undefined) {
    throw new InvalidChainError('empty_chain', 'no version to verify')
  }
  verifyGenesis(first, name)
  return { kind: 'extends', nodes }
}

/**
 * An offered head older than the verified one is harmless only if it is an ancestor of the verified head
 * (a stale record). Otherwise it is a second history — evidence of a stolen root key — and a fork. The
 * verified chain's nodes were checked when they were accepted, so only their links are read here.
 */
async function olderOrFork (offered: DecodedVersionNode, known: VerifiedHead, load: BlockLoader, options: WalkOptions): Promise<ChainDecision> {
  let cid: CID | undefined = known.cid
  let version = known.version
  for (let steps = 0; cid !== undefined && version > offered.node.version; steps++) {
    if (steps >= (options.maxDepth ?? MAX_CHAIN_DEPTH)) break
    const bytes: Uint8Array = await load(cid, options)
    const value: { prev?: unknown, version?: unknown } = dagCbor.decode(bytes)
    cid = CID.asCID(value.prev) ?? undefined
    version = typeof value.version === 'number' ? value.version - 1 : 0
  }
  if (cid !== undefined && version === offered.node.version && sameCid(cid, offered.cid)) {
    return { kind: 'older' }
  }
  throw new ForkError('fork', `version ${offered.node.version} offered for this DID is not an ancestor of the verified version ${known.version}`,
    known.cid.toString(), offered.cid.toString())
}

/** In a chain listed newest first, the version in force at `timeMs` (the newest with updated <= timeMs). */
export function versionAtTime (nodes: DecodedVersionNode[], timeMs: number): DecodedVersionNode | undefined {
  return nodes.find(n => n.updatedMs <= timeMs)
}

/** CID equality as a plain boolean (`CID.equals` is a type guard, which narrows the other side to never). */
function sameCid (a: CID, b: CID): boolean {
  return a.equals(b) as boolean
}
