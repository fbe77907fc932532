/**
 * IPNS records of did:ipid names: a thin layer over the `ipns` package. Creation and the wire format are the
 * package's; validation re-assembles its checks (size, V2 signature, key ↔ name, EOL) so that "now" comes
 * from an injected clock instead of `Date.now()`, which the package's validator reads directly.
 */
import { publicKeyFromMultihash } from '@libp2p/crypto/keys'
import {
  createIPNSRecordWithExpiration,
  extractPublicKeyFromIPNSRecord,
  marshalIPNSRecord,
  multihashToIPNSRoutingKey,
  unmarshalIPNSRecord
} from 'ipns'
import { CID } from 'multiformats/cid'
import { InvalidRecordError } from '../errors.ts'
import { equals } from 'uint8arrays/equals'
import type { IpidName } from '../did/identifier.ts'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import type { IPNSRecord } from 'ipns'
import type { MultihashDigest } from 'multiformats/hashes/interface'

/** The IPNS record spec's size limit: implementations must accept up to 10 KiB and may drop larger records. */
export const MAX_RECORD_BYTES = 10 * 1024
/**
 * Default record validity (EOL - publication time). Longer than the DHT's 48 h so that keepers can carry an
 * identity through a week of its owner being offline; short enough that the last record of an abandoned or
 * lost key lapses. The owner's daemon re-signs well before it ends.
 */
export const DEFAULT_RECORD_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000
/** Default TTL: how long a resolver may answer from cache before asking the network (the spec's suggestion). */
export const DEFAULT_RECORD_TTL_MS = 5 * 60 * 1000
/** Prefix of the data an IPNS V2 signature covers (IPNS record spec, "Record Creation"). */
const V2_SIGNATURE_PREFIX = new TextEncoder().encode('ipns-signature:')
const NS_PER_MS = 1_000_000n
const PATH_PREFIXES = ['/ipfs/', '/ipld/']

/** A record that passed validation, with its fields decoded. */
export interface ValidatedRecord {
  /** The marshalled record, exactly as received or created. */
  bytes: Uint8Array
  record: IPNSRecord
  value: string
  sequence: bigint
  /** End of validity (EOL), ms since the epoch. */
  validUntilMs: number
  ttlMs: number
}

export interface CreateRecordOptions {
  privateKey: PrivateKey
  /** The version node (or any CID) the name points at; becomes `/ipfs/<cid>`. */
  value: CID
  sequence: bigint
  validUntilMs: number
  ttlMs?: number
}

/** Signs a record (V1+V2, so that old consumers still read it) and marshals it. */
export async function createRecord (options: CreateRecordOptions): Promise<ValidatedRecord> {
  const ttlMs = options.ttlMs ?? DEFAULT_RECORD_TTL_MS
  const record = await createIPNSRecordWithExpiration(
    options.privateKey,
    options.value,
    options.sequence,
    new Date(options.validUntilMs).toISOString(),
    { v1Compatible: true, ttlNs: BigInt(ttlMs) * NS_PER_MS }
  )
  const bytes = marshalIPNSRecord(record)
  if (bytes.byteLength > MAX_RECORD_BYTES) {
    throw new InvalidRecordError('record_too_large', `the record is ${bytes.byteLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
  }
  return describe(bytes, record)
}

/**
 * Validates a marshalled record for `name` at time `nowMs`, following the spec's "Record Verification"
 * steps in order. Throws `InvalidRecordError` with reasons `record_too_large`, `malformed_record`,
 * `key_mismatch`, `no_public_key`, `bad_signature`, `expired`.
 */
export async function validateRecord (name: IpidName, bytes: Uint8Array, nowMs: number, options: { allowExpired?: boolean } = {}): Promise<ValidatedRecord> {
  if (bytes.byteLength > MAX_RECORD_BYTES) {
    throw new InvalidRecordError('record_too_large', `the record is ${bytes.byteLength} bytes; the limit is ${MAX_RECORD_BYTES}`)
  }
  let record: IPNSRecord
  try {
    // Checks that signatureV2 and data are present and that V1 fields, if any, match the signed data.
    record = unmarshalIPNSRecord(bytes)
  } catch (err) {
    throw new InvalidRecordError('malformed_record', `the record cannot be decoded: ${(err as Error).message}`, { cause: err })
  }
  const publicKey = recordPublicKey(name, record)
  let valid = false
  try {
    const signed = new Uint8Array(V2_SIGNATURE_PREFIX.length + record.data.length)
    signed.set(V2_SIGNATURE_PREFIX)
    signed.set(record.data, V2_SIGNATURE_PREFIX.length)
    valid = await publicKey.verify(signed, record.signatureV2)
  } catch {
    valid = false
  }
  if (!valid) {
    throw new InvalidRecordError('bad_signature', 'the record signature does not verify under the key the name names')
  }
  const described = describe(bytes, record)
  // A cache may hold a record past its EOL to serve it, flagged, during a grace period: it decides.
  if (options.allowExpired !== true && !(described.validUntilMs > nowMs)) {
    throw new InvalidRecordError('expired', `the record expired at ${new Date(described.validUntilMs).toISOString()}`)
  }
  return described
}

function recordPublicKey (name: IpidName, record: IPNSRecord): PublicKey {
  let embedded: PublicKey | undefined
  try {
    embedded = extractPublicKeyFromIPNSRecord(record)
  } catch {
    throw new InvalidRecordError('malformed_record', 'the record embeds a public key that cannot be decoded')
  }
  const key = embedded ?? (name.multihash.code === 0x00 ? publicKeyFromMultihash(name.multihash as never) : undefined)
  if (key === undefined) {
    throw new InvalidRecordError('no_public_key', 'the name hashes its key and the record does not embed it')
  }
  const routingKey = multihashToIPNSRoutingKey(key.toMultihash())
  if (!equals(routingKey, routingKeyOf(name))) {
    throw new InvalidRecordError('key_mismatch', 'the record is signed by a key other than the one the name names')
  }
  return key
}

function describe (bytes: Uint8Array, record: IPNSRecord): ValidatedRecord {
  const validUntilMs = Date.parse(record.validity)
  if (Number.isNaN(validUntilMs)) {
    throw new InvalidRecordError('malformed_record', 'the record validity is not an RFC 3339 time')
  }
  return {
    bytes,
    record,
    value: record.value,
    sequence: record.sequence,
    validUntilMs,
    ttlMs: Number((record.ttl ?? 0n) / NS_PER_MS)
  }
}

/** The DHT / pubsub routing key of a name: `/ipns/` + the multihash bytes. */
export function routingKeyOf (name: IpidName): Uint8Array {
  return multihashToIPNSRoutingKey(name.multihash as MultihashDigest<0x00 | 0x12>)
}

/**
 * The CID a record points at. Accepts `/ipfs/<cid>` and the `/ipld/<cid>` form of the 2018 method draft
 * (bare CIDs arrive as `/ipfs/<cid>` already). Throws `InvalidRecordError('value_not_ipfs_path')`.
 */
export function recordValueCid (record: Pick<ValidatedRecord, 'value'>): CID {
  const prefix = PATH_PREFIXES.find(p => record.value.startsWith(p))
  const rest = prefix === undefined ? undefined : record.value.slice(prefix.length)
  if (rest !== undefined && rest.length > 0 && !rest.includes('/')) {
    try {
      return CID.parse(rest)
    } catch {
      // fall through to the error below
    }
  }
  throw new InvalidRecordError('value_not_ipfs_path', 'the record does not point at /ipfs/<cid>')
}

/**
 * Total order of two valid records of one name: positive when `a` is better. Higher sequence wins; on equal
 * sequence the later EOL wins (as js-ipns and boxo select); on a full tie the larger signed `data` wins, so
 * that every node picks the same record.
 */
export function compareRecords (a: ValidatedRecord, b: ValidatedRecord): number {
  if (a.sequence !== b.sequence) return a.sequence > b.sequence ? 1 : -1
  if (a.validUntilMs !== b.validUntilMs) return a.validUntilMs > b.validUntilMs ? 1 : -1
  // Only the signed part may decide: anyone can change the rest of a valid record (the V1 signature, which is
  // not verified, or unknown fields appended) without invalidating it. Equal `data` is the same record.
  return compareBytes(a.record.data, b.record.data)
}

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d > 0 ? 1 : -1
  }
  return a.length === b.length ? 0 : a.length > b.length ? 1 : -1
}

