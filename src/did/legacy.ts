/**
 * Legacy shapes: bare DID documents that earlier IPID tools published at an IPNS name (the 2018 method draft,
 * js-did-ipid, galacteek), normalised into a current document. Every change made is listed, so resolution
 * metadata can say the document was normalised and how. Pure: no I/O (node:crypto only parses keys).
 *
 * What is recognised (see spec/did-ipid.md, "Legacy documents"):
 * - `{}` (the method draft's deactivation) → deactivated;
 * - `publicKey` / `owner` instead of `verificationMethod`; keys without `id` or `controller`; revoked keys
 *   and (given the resolution time) expired keys, which are dropped;
 * - key material as `publicKeyPem` (RSA, Ed25519), `publicKeyBase58/Base64/Hex/Multibase`, `publicKeyJwk`;
 * - `@context` as a string, an IPLD link, `{"@vocab": …}` or an `/ipfs/` path;
 * - `authentication` as strings, objects with `id`, or the draft's `{type, publicKey: [DID]}`;
 * - service ids with `;` or `/` separators, and `service` as a map;
 * - a document `id` in another encoding of the same name, or none at all;
 * - `previous` links (returned, for history), `created` / `updated` with or without fractions.
 */
import { createPublicKey } from 'node:crypto'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64url } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { InvalidDocumentError } from '../errors.ts'
import {
  DID_CONTEXT_V1,
  JWS_2020_CONTEXT_V1,
  MAX_ALSO_KNOWN_AS,
  MAX_SERVICE_ENDPOINTS,
  MAX_SERVICE_TYPES,
  MAX_SERVICES,
  MAX_URI_LENGTH,
  MAX_VERIFICATION_METHODS,
  MULTIKEY_CONTEXT_V1,
  VERIFICATION_RELATIONSHIPS,
  deactivatedDocument,
  checkDocumentSize,
  validateDocument
} from './document.ts'
import { parseMethodSpecificId } from './identifier.ts'
import { ED25519_PUBLIC_KEY_BYTES, ed25519ToMultikey, multikeyToEd25519 } from './keys.ts'
import { formatTime } from './time.ts'
import { equals } from 'uint8arrays/equals'
import type { DidDocument, Service, VerificationMethod } from './document.ts'
import type { IpidName } from './identifier.ts'

const URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/
const SECP256K1_PUB_PREFIX = Uint8Array.of(0xe7, 0x01)
const SECP256K1_COMPRESSED_BYTES = 33
const LEGACY_KEY_LISTS = ['verificationMethod', 'publicKey', 'owner'] as const
const KEY_MATERIAL = ['publicKeyMultibase', 'publicKeyJwk', 'publicKeyPem', 'publicKeyBase58', 'publicKeyBase64', 'publicKeyHex'] as const
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

export interface NormalisedDocument {
  document: DidDocument
  deactivated: boolean
  /** What was changed, as stable codes (`context_replaced`, `key_id_assigned`, …), each once. */
  changes: string[]
  /** The `previous` link, when the document had one. */
  previous?: CID
  /** `created` / `updated` of the legacy document, in whole seconds, when it gave them. */
  created?: string
  updated?: string
}

/**
 * Normalises a legacy document published under `name`. `value` is the decoded content (dag-cbor, dag-json or
 * JSON text, already parsed). Throws `InvalidDocumentError` when it is not a document of this DID at all.
 */
export interface NormaliseOptions {
  /** Resolution time: legacy keys whose `expires` is at or before it are dropped. Unchecked when absent. */
  nowMs?: number
}

export function normaliseLegacyDocument (value: unknown, name: IpidName, options: NormaliseOptions = {}): NormalisedDocument {
  const { did } = name
  if (value === null || typeof value !== 'object' || Array.isArray(value) || CID.asCID(value) !== null) {
    throw new InvalidDocumentError('not_an_object', 'the published content is not a document')
  }
  const source = value as Record<string, unknown>
  if (Object.keys(source).length === 0) {
    return { document: deactivatedDocument(did), deactivated: true, changes: ['empty_document_deactivated'] }
  }
  checkDocumentSize(source)

  const changes = new Set<string>()
  const sameDid = sameDidMatcher(name)
  /** Maps any spelling of a reference into this DID onto `did#fragment`. */
  const local = (ref: string): string | undefined => localReference(ref, did, sameDid)

  // id
  if (source.id === undefined) {
    changes.add('id_filled')
  } else if (typeof source.id !== 'string' || !sameDid(source.id)) {
    throw new InvalidDocumentError('id_mismatch', 'the document id is not the DID it is published under')
  } else if (source.id !== did) {
    changes.add('id_canonicalised')
  }

  // keys
  const methods: VerificationMethod[] = []
  const bareDidRefs: string[] = []
  for (const listName of LEGACY_KEY_LISTS) {
    const list = source[listName]
    if (list === undefined) continue
    if (listName !== 'verificationMethod') changes.add(`${listName}_renamed`)
    for (const entry of asArray(list)) {
      if (methods.length >= MAX_VERIFICATION_METHODS) {
        changes.add('keys_truncated')
        break
      }
      const vm = normaliseKey(entry, methods.length + 1, did, local, changes, options.nowMs)
      if (vm === undefined) continue
      if (!fitsAlone(did, { verificationMethod: [vm] }) || methods.some(m => m.id === vm.id)) {
        changes.add('unusable_key_dropped')
        continue
      }
      methods.push(vm)
    }
  }
  for (const vm of methods) bareDidRefs.push(vm.id)
  const methodIds = new Set(methods.map(m => m.id))

  // verification relationships
  const relationships: Partial<Record<typeof VERIFICATION_RELATIONSHIPS[number], string[]>> = {}
  for (const relationship of VERIFICATION_RELATIONSHIPS) {
    const raw = source[relationship]
    if (raw === undefined) continue
    const refs = new Set<string>()
    for (const entry of asArray(raw)) {
      for (const ref of relationshipRefs(entry, did, sameDid, local, bareDidRefs, changes)) {
        if (methodIds.has(ref)) refs.add(ref)
        else changes.add('dangling_reference_dropped')
      }
    }
    if (refs.size > 0) relationships[relationship] = [...refs]
  }

  // services
  const services: Service[] = []
  const serviceList = source.service
  if (serviceList !== undefined && !Array.isArray(serviceList) && typeof serviceList === 'object' && serviceList !== null && !('serviceEndpoint' in serviceList)) {
    changes.add('service_map_dropped')
  } else if (serviceList !== undefined) {
    for (const entry of asArray(serviceList)) {
      if (services.length >= MAX_SERVICES) {
        changes.add('services_truncated')
        break
      }
      const service = normaliseService(entry, services.length + 1, did, local, changes)
      if (service === undefined) continue
      if (!fitsAlone(did, { service: [service] })) {
        changes.add('unusable_service_dropped')
        continue
      }
      if (services.some(s => s.id === service.id) || methodIds.has(service.id)) {
        changes.add('duplicate_service_dropped')
        continue
      }
      services.push(service)
    }
  }

  // context: rebuilt from what the document now holds
  const context = [DID_CONTEXT_V1]
  if (methods.some(m => m.type === 'Multikey')) context.push(MULTIKEY_CONTEXT_V1)
  if (methods.some(m => m.type === 'JsonWebKey2020')) context.push(JWS_2020_CONTEXT_V1)
  if (JSON.stringify(source['@context']) !== JSON.stringify(context)) changes.add('context_replaced')

  const document: DidDocument = { '@context': context, id: did }
  const controller = controllersOf(source.controller, did, sameDid, changes)
  if (controller !== undefined) document.controller = controller
  const akaIn = source.alsoKnownAs === undefined ? [] : asArray(source.alsoKnownAs)
  const aka = akaIn.filter((a): a is string => typeof a === 'string' && URI_RE.test(a) && a.length <= MAX_URI_LENGTH).slice(0, MAX_ALSO_KNOWN_AS)
  if (aka.length !== akaIn.length) changes.add('also_known_as_dropped')
  if (aka.length > 0) document.alsoKnownAs = aka
  if (methods.length > 0) document.verificationMethod = methods
  Object.assign(document, relationships)
  if (services.length > 0) document.service = services

  const known = new Set(['@context', 'id', 'controller', 'alsoKnownAs', 'service', 'previous', 'created', 'updated', ...LEGACY_KEY_LISTS, ...VERIFICATION_RELATIONSHIPS])
  for (const key of Object.keys(source)) {
    if (!known.has(key)) changes.add(`property_dropped:${key}`)
  }

  const previous = source.previous === undefined ? undefined : asLink(source.previous)
  if (source.previous !== undefined && previous === undefined) changes.add('previous_unreadable')
  const created = legacyTime(source.created)
  const updated = legacyTime(source.updated)
  const result: NormalisedDocument = {
    document: validateDocument(document, did),
    deactivated: false,
    changes: [...changes].sort(),
    ...(previous === undefined ? {} : { previous }),
    ...(created === undefined ? {} : { created }),
    ...(updated === undefined ? {} : { updated })
  }
  return result
}

/** Whether one normalised entry is valid on its own, so a bad entry is dropped rather than failing the document. */
function fitsAlone (did: string, part: Partial<DidDocument>): boolean {
  try {
    validateDocument({ '@context': [DID_CONTEXT_V1], id: did, ...part }, did)
    return true
  } catch {
    return false
  }
}

/** A predicate: does this DID (any encoding, bare) name the same identity as `name`? */
function sameDidMatcher (name: IpidName): (did: string) => boolean {
  return (candidate: string): boolean => {
    if (!candidate.startsWith('did:ipid:')) return false
    try {
      return equals(parseMethodSpecificId(candidate.slice('did:ipid:'.length)).multihash.bytes, name.multihash.bytes)
    } catch {
      return false
    }
  }
}

/**
 * `did#frag`, `#frag`, `did;frag`, `did/path` (in any encoding of this DID) → `did#frag`. Undefined for
 * references into other DIDs and for the bare DID itself.
 */
function localReference (ref: string, did: string, sameDid: (d: string) => boolean): string | undefined {
  if (ref.startsWith('#') && ref.length > 1) return did + ref
  const match = /^(did:ipid:[A-Za-z0-9]+)([#;/])(.+)$/.exec(ref)
  if (match === null || !sameDid(match[1] ?? '')) return undefined
  return `${did}#${match[3] ?? ''}`
}

/** A key's controller: this DID in any spelling → the canonical DID; another DID as it is; else this DID. */
function keyController (value: unknown, did: string, changes: Set<string>): string {
  if (value === undefined) {
    changes.add('key_controller_filled')
    return did
  }
  if (typeof value === 'string' && /^did:[a-z0-9]+:\S+$/.test(value)) {
    if (!value.startsWith('did:ipid:')) return value
    try {
      const canonical = parseMethodSpecificId(value.slice('did:ipid:'.length)).did
      if (canonical !== value) changes.add('key_controller_canonicalised')
      return canonical
    } catch {
      // an unparseable did:ipid controller is replaced below
    }
  }
  changes.add('key_controller_replaced')
  return did
}

function normaliseKey (
  entry: unknown,
  position: number,
  did: string,
  local: (ref: string) => string | undefined,
  changes: Set<string>,
  nowMs: number | undefined
): VerificationMethod | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    changes.add('unusable_key_dropped')
    return undefined
  }
  const key = entry as Record<string, unknown>
  if (key.status === 'revoked') {
    changes.add('revoked_key_dropped')
    return undefined
  }
  const expires = typeof key.expires === 'string' ? Date.parse(key.expires) : Number.NaN
  if (nowMs !== undefined && !Number.isNaN(expires) && expires <= nowMs) {
    changes.add('expired_key_dropped')
    return undefined
  }
  let id = typeof key.id === 'string' ? local(key.id) : undefined
  if (id === undefined) {
    id = `${did}#key-${position}`
    changes.add('key_id_assigned')
  } else if (id !== key.id) {
    changes.add('key_id_canonicalised')
  }
  const controller = keyController(key.controller, did, changes)

  const material = publicKeyMaterial(key)
  if (material === 'private') {
    changes.add('private_key_dropped')
    return undefined
  }
  if (material === undefined) {
    changes.add('unusable_key_dropped')
    return undefined
  }
  if (key.type !== material.type || KEY_MATERIAL.some(p => p in key && !(p in material.fields))) {
    changes.add('key_encoding_converted')
  }
  return { id, type: material.type, controller, ...material.fields }
}

type KeyMaterial = { type: 'Multikey', fields: { publicKeyMultibase: string } } | { type: 'JsonWebKey2020', fields: { publicKeyJwk: Record<string, unknown> } }

/** The key's public material in a current encoding; 'private' if it carries private material. */
function publicKeyMaterial (key: Record<string, unknown>): KeyMaterial | 'private' | undefined {
  const type = typeof key.type === 'string' ? key.type : Array.isArray(key.type) ? key.type.join(' ') : ''
  const ed25519Hint = /ed25519|eddsa/i.test(type) || key.curve === 'ed25519'
  const secp256k1Hint = /secp256k1/i.test(type)

  if (Object.keys(key).some(p => p.startsWith('privateKey'))) return 'private'
  if (typeof key.publicKeyJwk === 'object' && key.publicKeyJwk !== null) {
    const jwk = key.publicKeyJwk as Record<string, unknown>
    if (PRIVATE_JWK_MEMBERS.some(m => m in jwk)) return 'private'
    return typeof jwk.kty === 'string' ? { type: 'JsonWebKey2020', fields: { publicKeyJwk: { ...jwk } } } : undefined
  }
  if (typeof key.publicKeyPem === 'string') {
    return pemToJwk(key.publicKeyPem)
  }
  if (typeof key.publicKeyMultibase === 'string' && key.type === 'Multikey') {
    const multibase = key.publicKeyMultibase
    const usable = multibase.startsWith('z6Mk') ? multikeyToEd25519(multibase) !== undefined : /^z[1-9A-HJ-NP-Za-km-z]{8,}$/.test(multibase)
    return usable ? { type: 'Multikey', fields: { publicKeyMultibase: multibase } } : undefined
  }
  const raw = rawKeyBytes(key)
  if (raw === undefined) return undefined
  if (ed25519Hint && raw.length === ED25519_PUBLIC_KEY_BYTES) {
    return { type: 'Multikey', fields: { publicKeyMultibase: ed25519ToMultikey(raw) } }
  }
  if (secp256k1Hint && raw.length === SECP256K1_COMPRESSED_BYTES) {
    const bytes = new Uint8Array(SECP256K1_PUB_PREFIX.length + raw.length)
    bytes.set(SECP256K1_PUB_PREFIX)
    bytes.set(raw, SECP256K1_PUB_PREFIX.length)
    return { type: 'Multikey', fields: { publicKeyMultibase: base58btc.encode(bytes) } }
  }
  // js-did-ipid's RsaVerificationKey2018 with publicKeyHex: DER SubjectPublicKeyInfo.
  return derToJwk(raw)
}

function rawKeyBytes (key: Record<string, unknown>): Uint8Array | undefined {
  try {
    if (typeof key.publicKeyBase58 === 'string') return base58btc.baseDecode(key.publicKeyBase58)
    if (typeof key.publicKeyBase64 === 'string') {
      const text = key.publicKeyBase64.replace(/=+$/, '')
      return /[-_]/.test(text) ? base64url.baseDecode(text) : base64.baseDecode(text)
    }
    if (typeof key.publicKeyHex === 'string' && /^([0-9a-fA-F]{2})+$/.test(key.publicKeyHex)) {
      return Uint8Array.from(Buffer.from(key.publicKeyHex, 'hex'))
    }
    if (typeof key.publicKeyMultibase === 'string') {
      const bytes = base58btc.decode(key.publicKeyMultibase)
      // A legacy publicKeyMultibase may be a Multikey (with its codec prefix) or bare key bytes.
      return bytes.length === ED25519_PUBLIC_KEY_BYTES + 2 && bytes[0] === 0xed && bytes[1] === 0x01 ? bytes.subarray(2) : bytes
    }
  } catch {
    return undefined
  }
  return undefined
}

function pemToJwk (pem: string): KeyMaterial | 'private' | undefined {
  if (/PRIVATE KEY/.test(pem)) return 'private'
  try {
    return jwkMaterial(createPublicKey({ key: pem, format: 'pem' }).export({ format: 'jwk' }) as Record<string, unknown>)
  } catch {
    return undefined
  }
}

function derToJwk (der: Uint8Array): KeyMaterial | undefined {
  try {
    return jwkMaterial(createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as Record<string, unknown>)
  } catch {
    return undefined
  }
}

function jwkMaterial (jwk: Record<string, unknown>): KeyMaterial {
  // An Ed25519 key is more useful as a Multikey: every EdDSA verifier understands it.
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && typeof jwk.x === 'string') {
    return { type: 'Multikey', fields: { publicKeyMultibase: ed25519ToMultikey(base64url.baseDecode(jwk.x)) } }
  }
  return { type: 'JsonWebKey2020', fields: { publicKeyJwk: jwk } }
}

function relationshipRefs (
  entry: unknown,
  did: string,
  sameDid: (d: string) => boolean,
  local: (ref: string) => string | undefined,
  allKeys: string[],
  changes: Set<string>
): string[] {
  if (typeof entry === 'string') {
    const ref = local(entry)
    if (ref !== undefined) {
      if (ref !== entry) changes.add('reference_canonicalised')
      return [ref]
    }
    if (sameDid(entry)) {
      // The bare DID as a key reference (the 2018 draft): every key of the document.
      changes.add('bare_did_reference_expanded')
      return allKeys
    }
    changes.add('dangling_reference_dropped')
    return []
  }
  if (entry === null || typeof entry !== 'object') {
    changes.add('unusable_reference_dropped')
    return []
  }
  const object = entry as Record<string, unknown>
  // galacteek: {id: <key id>, publicKey: [DID]} names the key by its own id.
  if (typeof object.id === 'string') {
    const ref = local(object.id)
    if (ref !== undefined) {
      changes.add('embedded_reference_replaced')
      return [ref]
    }
  }
  // The 2018 draft: {type, publicKey: [DID or key id, …]}.
  if (object.publicKey !== undefined) {
    changes.add('embedded_reference_replaced')
    return asArray(object.publicKey).flatMap(p => typeof p === 'string' ? relationshipRefs(p, did, sameDid, local, allKeys, changes) : [])
  }
  changes.add('dangling_reference_dropped')
  return []
}

function normaliseService (
  entry: unknown,
  position: number,
  did: string,
  local: (ref: string) => string | undefined,
  changes: Set<string>
): Service | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    changes.add('unusable_service_dropped')
    return undefined
  }
  const { id: rawId, type, serviceEndpoint, ...rest } = entry as Record<string, unknown>
  const original = toJsonValue(serviceEndpoint)
  const endpoint = normaliseEndpoint(original)
  const types = typeof type === 'string' && type.length <= MAX_URI_LENGTH
    ? type
    : Array.isArray(type) && type.length > 0 && type.length <= MAX_SERVICE_TYPES && type.every(t => typeof t === 'string' && t.length <= MAX_URI_LENGTH)
      ? type as string[]
      : undefined
  const tooMany = Array.isArray(endpoint) && endpoint.length > MAX_SERVICE_ENDPOINTS
  if (endpoint === undefined || types === undefined || tooMany) {
    changes.add('unusable_service_dropped')
    return undefined
  }
  if (JSON.stringify(endpoint) !== JSON.stringify(original)) changes.add('service_endpoint_converted')
  let id = typeof rawId === 'string' ? local(rawId) : undefined
  if (id === undefined && typeof rawId === 'string' && URI_RE.test(rawId) && rawId.length <= MAX_URI_LENGTH && !rawId.startsWith('did:ipid:')) {
    id = rawId // an absolute URI of another kind is a valid service id as it is
  }
  if (id === undefined) {
    id = `${did}#service-${position}`
    changes.add('service_id_assigned')
  } else if (id !== rawId) {
    changes.add('service_id_canonicalised')
  }
  return { ...(toJsonValue(rest) as Record<string, unknown>), id, type: types, serviceEndpoint: endpoint as Service['serviceEndpoint'] }
}

/** String endpoints must be URIs: IPFS paths become ipfs:// / ipns:// URLs; other non-URIs are dropped. */
function normaliseEndpoint (endpoint: unknown): unknown {
  if (typeof endpoint === 'string') {
    const path = /^\/(ipfs|ipns)\/(.+)$/.exec(endpoint)
    if (path !== null) return `${path[1] ?? ''}://${path[2] ?? ''}`
    return URI_RE.test(endpoint) && endpoint.length <= MAX_URI_LENGTH ? endpoint : undefined
  }
  if (Array.isArray(endpoint)) {
    const list = endpoint.map(normaliseEndpoint).filter(e => e !== undefined)
    return list.length > 0 ? list : undefined
  }
  return endpoint !== null && typeof endpoint === 'object' ? endpoint : undefined
}

function controllersOf (value: unknown, did: string, sameDid: (d: string) => boolean, changes: Set<string>): string | string[] | undefined {
  if (value === undefined) return undefined
  const list = asArray(value).filter((c): c is string => typeof c === 'string' && c.startsWith('did:'))
    .map(c => sameDid(c) ? did : c)
  if (list.length === 0) {
    changes.add('controller_dropped')
    return undefined
  }
  if (JSON.stringify(list.length === 1 ? list[0] : list) !== JSON.stringify(value)) changes.add('controller_canonicalised')
  return list.length === 1 ? list[0] : list
}

/** IPLD links (CID objects or `{"/": "<cid>"}`) → CID. */
function asLink (value: unknown): CID | undefined {
  const cid = CID.asCID(value)
  if (cid !== null) return cid
  if (value !== null && typeof value === 'object' && typeof (value as Record<string, unknown>)['/'] === 'string') {
    try {
      return CID.parse((value as Record<string, string>)['/'] ?? '')
    } catch {
      return undefined
    }
  }
  return undefined
}

/** Makes decoded IPLD data plain JSON: links become `{"/": "<cid>"}`, bytes become base64 strings. */
function toJsonValue (value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value, (_key, v: unknown) => v instanceof Uint8Array ? base64.baseEncode(v) : v))
}

function legacyTime (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : formatTime(ms)
}

function asArray (value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value]
}

