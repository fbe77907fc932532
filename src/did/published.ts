/**
 * What an IPNS record of a did:ipid points at: a version node, or a legacy document in one of the encodings
 * earlier tools used (dag-cbor, dag-json, a raw JSON block, or a single-block UnixFS file holding JSON text).
 * Pure: it decodes bytes already fetched; the block's hash was checked by whoever fetched it (version nodes are
 * checked again in `decodeVersionNode`).
 */
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { InvalidDocumentError } from '../errors.ts'
import { looksLikeVersionNode } from './version-node.ts'
import type { CID } from 'multiformats/cid'

const RAW_CODEC = 0x55
const JSON_CODEC = 0x0200

export type PublishedContent =
  | { kind: 'version-node' }
  | { kind: 'legacy', value: unknown }

/** Classifies a block. Throws `InvalidDocumentError` (`not_json`, `not_an_object`) for content that is neither. */
export function classifyPublished (cid: CID, bytes: Uint8Array): PublishedContent {
  let value: unknown
  try {
    switch (cid.code) {
      case dagCbor.code:
        value = dagCbor.decode(bytes)
        return looksLikeVersionNode(value) ? { kind: 'version-node' } : { kind: 'legacy', value }
      case dagJson.code:
        return { kind: 'legacy', value: dagJson.decode(bytes) }
      case RAW_CODEC:
      case JSON_CODEC:
        return { kind: 'legacy', value: JSON.parse(new TextDecoder().decode(bytes)) }
      case dagPb.code: {
        const node = dagPb.decode(bytes)
        const file = node.Data === undefined ? undefined : UnixFS.unmarshal(node.Data)
        if (file === undefined || file.type !== 'file' || node.Links.length > 0 || file.data === undefined) {
          throw new InvalidDocumentError('not_an_object', 'the record points at a UnixFS node that is not a single-block file')
        }
        return { kind: 'legacy', value: JSON.parse(new TextDecoder().decode(file.data)) }
      }
      default:
        throw new InvalidDocumentError('not_an_object', `the record points at a block with codec 0x${cid.code.toString(16)}, not a document`)
    }
  } catch (err) {
    if (err instanceof InvalidDocumentError) throw err
    throw new InvalidDocumentError('not_json', `the published content cannot be decoded: ${(err as Error).message}`, { cause: err })
  }
}
