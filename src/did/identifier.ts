/**
 * did:ipid identifiers: `did:ipid:<ipns-name>`, where the IPNS name is the multihash of a libp2p public key
 * (the root key). Every encoding of that name found in the wild parses to the same identity; the canonical
 * form is CIDv1, codec libp2p-key, base36 (`k51…` for Ed25519, `k2k4r8…` for sha2-256 hashed keys).
 */
import { publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { base32 } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidDidError } from '../errors.ts'
import type { PublicKey } from '@libp2p/interface'
import type { MultihashDigest } from 'multiformats/hashes/interface'

export const DID_METHOD = 'ipid'
export const DID_PREFIX = `did:${DID_METHOD}:`
/** Longest DID URL accepted (path, query and fragment included); longer input is refused unread. */
export const MAX_DID_URL_LENGTH = 2048
/** Longest method-specific id accepted: every real encoding of a libp2p key id is well below it. */
export const MAX_METHOD_SPECIFIC_ID_LENGTH = 128
/** libp2p inlines a public key in an identity multihash only up to this size; larger keys are hashed. */
export const MAX_INLINE_KEY_BYTES = 42
/** Multicodec of a CID that names a libp2p public key. */
export const LIBP2P_KEY_CODEC = 0x72
const IDENTITY_MULTIHASH = 0x00
const SHA2_256_MULTIHASH = 0x12
const SHA2_256_DIGEST_BYTES = 32

/** How the method-specific id was written. */
export type IdEncoding = 'base36' | 'base32' | 'base58btc'
/** Root key type as far as the name tells: hashed names (sha2-256) do not say which key they hash. */
export type RootKeyType = 'Ed25519' | 'secp256k1' | 'ECDSA' | 'RSA' | 'hashed'

export interface IpidName {
  /** Canonical DID, `did:ipid:<base36 CIDv1>`. */
  readonly did: string
  /** Canonical method-specific id (base36 CIDv1 libp2p-key). */
  readonly id: string
  /** The method-specific id exactly as given. */
  readonly inputId: string
  readonly encoding: IdEncoding
  /** Multihash of the root public key's protobuf encoding: the IPNS name proper. */
  readonly multihash: MultihashDigest
  readonly rootKeyType: RootKeyType
  /** The root public key, when the name inlines it (identity multihash). */
  readonly rootPublicKey?: PublicKey
}

export interface ParsedDidUrl extends IpidName {
  /** The DID URL exactly as given. */
  readonly url: string
  /** Path including its leading `/`, or '' when absent. */
  readonly path: string
  /** Query without `?`, or undefined when absent. */
  readonly query?: string
  /** Fragment without `#`, or undefined when absent. */
  readonly fragment?: string
}

// RFC 3986 pchar / query / fragment, as DID Core's did-url ABNF uses them.
const PCT = '%[0-9A-Fa-f]{2}'
const PCHAR = `(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@]|${PCT})`
const PATH_RE = new RegExp(`^(?:/${PCHAR}*)*$`)
const QUERY_OR_FRAGMENT_RE = new RegExp(`^(?:${PCHAR}|[/?])*$`)
const METHOD_NAME_RE = /^[a-z0-9]+$/
const ID_CHARS_RE = /^[A-Za-z0-9]+$/

/** Parses a bare did:ipid DID (no path, query or fragment). Throws `InvalidDidError`. */
export function parseDid (did: unknown): IpidName {
  const parsed = parseDidUrl(did)
  if (parsed.path !== '' || parsed.query !== undefined || parsed.fragment !== undefined) {
    throw new InvalidDidError('did_url_not_a_did', 'expected a DID, got a DID URL with a path, query or fragment')
  }
  const { url: _url, path: _path, query: _query, fragment: _fragment, ...name } = parsed
  return name
}

/** Parses a did:ipid DID URL (DID Core `did-url`: DID, path, query, fragment). Throws `InvalidDidError`. */
export function parseDidUrl (url: unknown): ParsedDidUrl {
  if (typeof url !== 'string') {
    throw new InvalidDidError('not_a_string', 'a DID must be a string')
  }
  if (url.length > MAX_DID_URL_LENGTH) {
    throw new InvalidDidError('too_long', `DID URL is longer than ${MAX_DID_URL_LENGTH} characters`)
  }
  const fragmentAt = url.indexOf('#')
  const beforeFragment = fragmentAt === -1 ? url : url.slice(0, fragmentAt)
  const fragment = fragmentAt === -1 ? undefined : url.slice(fragmentAt + 1)
  const queryAt = beforeFragment.indexOf('?')
  const beforeQuery = queryAt === -1 ? beforeFragment : beforeFragment.slice(0, queryAt)
  const query = queryAt === -1 ? undefined : beforeFragment.slice(queryAt + 1)
  const pathAt = beforeQuery.indexOf('/')
  const did = pathAt === -1 ? beforeQuery : beforeQuery.slice(0, pathAt)
  const path = pathAt === -1 ? '' : beforeQuery.slice(pathAt)

  const [scheme, method, ...rest] = did.split(':')
  if (scheme !== 'did' || method === undefined || rest.length === 0) {
    throw new InvalidDidError('not_a_did', 'not a DID: expected did:ipid:<ipns-name>')
  }
  if (!METHOD_NAME_RE.test(method)) {
    throw new InvalidDidError('malformed_method_name', 'DID method names are lowercase letters and digits')
  }
  if (method !== DID_METHOD) {
    throw new InvalidDidError('method_not_supported', `DID method "${method}" is not supported; only did:ipid is`, 'methodNotSupported')
  }
  if (rest.length > 1) {
    throw new InvalidDidError('malformed_id', 'did:ipid ids have no ":"-separated parts')
  }
  const name = parseMethodSpecificId(rest[0] ?? '')
  if (!PATH_RE.test(path)) {
    throw new InvalidDidError('malformed_path', 'DID URL path has characters outside RFC 3986 or bad percent-encoding', 'invalidDidUrl')
  }
  if (query !== undefined && !QUERY_OR_FRAGMENT_RE.test(query)) {
    throw new InvalidDidError('malformed_query', 'DID URL query has characters outside RFC 3986 or bad percent-encoding', 'invalidDidUrl')
  }
  if (fragment !== undefined && !QUERY_OR_FRAGMENT_RE.test(fragment)) {
    throw new InvalidDidError('malformed_fragment', 'DID URL fragment has characters outside RFC 3986 or bad percent-encoding', 'invalidDidUrl')
  }
  return {
    ...name,
    url,
    path,
    ...(query === undefined ? {} : { query }),
    ...(fragment === undefined ? {} : { fragment })
  }
}

/**
 * Ids parsed lately. Parsing decodes a CID and re-encodes three forms — most of a warm resolve's work — and a
 * resolver sees the same few DIDs again and again. Only successful parses are kept; bounded, oldest out.
 */
export const PARSED_ID_CACHE_SIZE = 4096
const parsedIds = new Map<string, IpidName>()

/** Parses the method-specific id alone (an IPNS name in any accepted encoding). Throws `InvalidDidError`. */
export function parseMethodSpecificId (id: string): IpidName {
  const known = parsedIds.get(id)
  if (known !== undefined) return known
  const parsed = Object.freeze(parseMethodSpecificIdUncached(id))
  if (parsedIds.size >= PARSED_ID_CACHE_SIZE) parsedIds.delete(parsedIds.keys().next().value as string)
  parsedIds.set(id, parsed)
  return parsed
}

function parseMethodSpecificIdUncached (id: string): IpidName {
  if (id.length === 0) {
    throw new InvalidDidError('empty_id', 'the method-specific id is empty')
  }
  if (id.length > MAX_METHOD_SPECIFIC_ID_LENGTH) {
    throw new InvalidDidError('id_too_long', `the method-specific id is longer than ${MAX_METHOD_SPECIFIC_ID_LENGTH} characters`)
  }
  if (!ID_CHARS_RE.test(id)) {
    throw new InvalidDidError('malformed_id', 'the method-specific id may hold only letters and digits')
  }
  let encoding: IdEncoding
  let multihash: MultihashDigest
  if (id.startsWith('Q') || id.startsWith('1')) {
    // A bare base58btc multihash: the classic peer id (`Qm…` sha2-256, `12D3KooW…` identity).
    encoding = 'base58btc'
    const bytes = decodeOrThrow(() => base58btc.baseDecode(id), 'base58btc')
    multihash = decodeOrThrow(() => Digest.decode(bytes), 'base58btc')
  } else if (id.startsWith('k') || id.startsWith('b')) {
    encoding = id.startsWith('k') ? 'base36' : 'base32'
    const decoder = encoding === 'base36' ? base36 : base32
    const cid = decodeOrThrow(() => CID.parse(id, decoder), encoding)
    if (cid.version !== 1) {
      throw new InvalidDidError('not_cidv1', 'multibase ids must be CIDv1')
    }
    if (cid.code !== LIBP2P_KEY_CODEC) {
      throw new InvalidDidError('wrong_codec', `the CID's codec is 0x${cid.code.toString(16)}, not libp2p-key (0x72)`)
    }
    multihash = cid.multihash
  } else {
    throw new InvalidDidError('unsupported_encoding', 'the id must be base36 (k…), base32 (b…) or a base58btc peer id (Qm…, 12D3KooW…)')
  }
  const { rootKeyType, rootPublicKey } = rootKeyOf(multihash)
  const canonicalId = CID.createV1(LIBP2P_KEY_CODEC, multihash).toString(base36)
  return {
    did: DID_PREFIX + canonicalId,
    id: canonicalId,
    inputId: id,
    encoding,
    multihash,
    rootKeyType,
    ...(rootPublicKey === undefined ? {} : { rootPublicKey })
  }
}

function rootKeyOf (multihash: MultihashDigest): { rootKeyType: RootKeyType, rootPublicKey?: PublicKey } {
  if (multihash.code === SHA2_256_MULTIHASH) {
    if (multihash.size !== SHA2_256_DIGEST_BYTES) {
      throw new InvalidDidError('multihash_length', 'a sha2-256 multihash must hold 32 bytes')
    }
    return { rootKeyType: 'hashed' }
  }
  if (multihash.code !== IDENTITY_MULTIHASH) {
    throw new InvalidDidError('unsupported_multihash', `multihash 0x${multihash.code.toString(16)} cannot name a libp2p key (identity or sha2-256 only)`)
  }
  if (multihash.size > MAX_INLINE_KEY_BYTES) {
    throw new InvalidDidError('identity_key_too_long', `keys longer than ${MAX_INLINE_KEY_BYTES} bytes are named by their sha2-256 hash, not inlined`)
  }
  let rootPublicKey: PublicKey
  try {
    rootPublicKey = publicKeyFromProtobuf(multihash.digest)
  } catch {
    throw new InvalidDidError('identity_not_a_key', 'the identity multihash does not hold a libp2p public key')
  }
  return { rootKeyType: rootPublicKey.type, rootPublicKey }
}

function decodeOrThrow<T> (decode: () => T, encoding: IdEncoding): T {
  try {
    return decode()
  } catch {
    throw new InvalidDidError('malformed_encoding', `the id is not valid ${encoding}`)
  }
}

/** The canonical DID naming a public key (the DID a root key creates). */
export function didFromPublicKey (publicKey: PublicKey): string {
  return DID_PREFIX + publicKey.toCID().toString(base36)
}

/** Every other accepted spelling of the same DID: base32 CIDv1 and the base58btc peer id. */
export function equivalentDids (name: IpidName): string[] {
  const cid = CID.createV1(LIBP2P_KEY_CODEC, name.multihash)
  return [
    DID_PREFIX + cid.toString(base32),
    DID_PREFIX + base58btc.baseEncode(name.multihash.bytes)
  ]
}

/** The DID URL of a fragment of this DID: `did:ipid:<id>#<fragment>`. */
export function didUrlWithFragment (did: string, fragment: string): string {
  return `${did}#${fragment}`
}
