/**
 * DID documents (W3C DID Core 1.0) as ipidd publishes and accepts them: build and validate. Pure.
 *
 * Profile rules beyond DID Core, each for a reason:
 * - references in verification relationships are absolute DID URLs: did-jwt cannot use relative `#key-1`;
 * - no private key material anywhere: a document is public forever once published;
 * - hard limits on encoded size and on every list, so one hostile document cannot exhaust a resolver.
 */
import { z } from 'zod'
import { InvalidDocumentError } from '../errors.ts'
import { ed25519ToJwk, ed25519ToMultikey, jwkToEd25519, multikeyToEd25519 } from './keys.ts'
import type { Ed25519PublicKey } from '@libp2p/interface'

export const DID_CONTEXT_V1 = 'https://www.w3.org/ns/did/v1'
export const MULTIKEY_CONTEXT_V1 = 'https://w3id.org/security/multikey/v1'
export const JWS_2020_CONTEXT_V1 = 'https://w3id.org/security/suites/jws-2020/v1'

/** Largest DID document accepted, measured as UTF-8 JSON: ample for dozens of keys and services. */
export const MAX_DOCUMENT_BYTES = 32 * 1024
export const MAX_VERIFICATION_METHODS = 32
/** Per verification relationship (`authentication`, `assertionMethod`, …). */
export const MAX_RELATIONSHIP_ENTRIES = 32
export const MAX_SERVICES = 32
export const MAX_ALSO_KNOWN_AS = 16
export const MAX_CONTROLLERS = 8
export const MAX_CONTEXT_ENTRIES = 8
/** Longest id, type, URI or endpoint string. */
export const MAX_URI_LENGTH = 2048
/** Types one service may list. */
export const MAX_SERVICE_TYPES = 8
/** Endpoints one service may list. */
export const MAX_SERVICE_ENDPOINTS = 16
/** Deepest nesting inside a service endpoint map. */
export const MAX_SERVICE_ENDPOINT_DEPTH = 4

export const VERIFICATION_RELATIONSHIPS = [
  'authentication',
  'assertionMethod',
  'keyAgreement',
  'capabilityInvocation',
  'capabilityDelegation'
] as const
export type VerificationRelationship = typeof VERIFICATION_RELATIONSHIPS[number]

export interface VerificationMethod {
  id: string
  type: string
  controller: string
  publicKeyMultibase?: string
  publicKeyJwk?: Record<string, unknown>
  [property: string]: unknown
}

export type ServiceEndpoint = string | Record<string, unknown> | Array<string | Record<string, unknown>>

export interface Service {
  id: string
  type: string | string[]
  serviceEndpoint: ServiceEndpoint
  [property: string]: unknown
}

export interface DidDocument {
  '@context'?: string | Array<string | Record<string, unknown>>
  id: string
  controller?: string | string[]
  alsoKnownAs?: string[]
  verificationMethod?: VerificationMethod[]
  authentication?: Array<string | VerificationMethod>
  assertionMethod?: Array<string | VerificationMethod>
  keyAgreement?: Array<string | VerificationMethod>
  capabilityInvocation?: Array<string | VerificationMethod>
  capabilityDelegation?: Array<string | VerificationMethod>
  service?: Service[]
  [property: string]: unknown
}

const uri = z.string().min(1).max(MAX_URI_LENGTH)
const verificationMethodSchema = z.looseObject({
  id: uri,
  type: uri,
  controller: uri,
  publicKeyMultibase: z.string().max(MAX_URI_LENGTH).optional(),
  publicKeyJwk: z.record(z.string(), z.unknown()).optional()
})
const relationshipSchema = z.array(z.union([uri, verificationMethodSchema])).max(MAX_RELATIONSHIP_ENTRIES)
const endpointSchema = z.union([uri, z.record(z.string(), z.unknown())])
const serviceSchema = z.looseObject({
  id: uri,
  type: z.union([uri, z.array(uri).min(1).max(MAX_SERVICE_TYPES)]),
  serviceEndpoint: z.union([endpointSchema, z.array(endpointSchema).min(1).max(MAX_SERVICE_ENDPOINTS)])
})
const documentSchema = z.looseObject({
  '@context': z.union([uri, z.array(z.union([uri, z.record(z.string(), z.unknown())])).min(1).max(MAX_CONTEXT_ENTRIES)]).optional(),
  id: uri,
  controller: z.union([uri, z.array(uri).max(MAX_CONTROLLERS)]).optional(),
  alsoKnownAs: z.array(uri).max(MAX_ALSO_KNOWN_AS).optional(),
  verificationMethod: z.array(verificationMethodSchema).max(MAX_VERIFICATION_METHODS).optional(),
  authentication: relationshipSchema.optional(),
  assertionMethod: relationshipSchema.optional(),
  keyAgreement: relationshipSchema.optional(),
  capabilityInvocation: relationshipSchema.optional(),
  capabilityDelegation: relationshipSchema.optional(),
  service: z.array(serviceSchema).max(MAX_SERVICES).optional()
})

const URI_SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/
const DID_RE = /^did:[a-z0-9]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._%-]$/
const DID_URL_WITH_FRAGMENT_RE = /^did:[a-z0-9]+:[^#\s]+#\S+$/
/** Property names that would carry private key material, in every key format we know of. */
const PRIVATE_KEY_PROPERTIES = ['privateKeyMultibase', 'privateKeyJwk', 'privateKeyBase58', 'privateKeyHex', 'privateKeyBase64', 'privateKeyPem', 'secretKeyMultibase']
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

export const utf8 = new TextEncoder()

/** Encoded size of a document, as the limit measures it. */
export function documentSize (document: unknown): number {
  return utf8.encode(JSON.stringify(document)).byteLength
}

/** Throws `not_json` for a value JSON cannot represent, `document_too_large` over MAX_DOCUMENT_BYTES. */
export function checkDocumentSize (document: unknown): void {
  let size: number
  try {
    size = documentSize(document)
  } catch (err) {
    throw new InvalidDocumentError('not_json', 'the document cannot be represented as JSON', { cause: err })
  }
  if (size > MAX_DOCUMENT_BYTES) {
    throw new InvalidDocumentError('document_too_large', `the document is ${size} bytes; the limit is ${MAX_DOCUMENT_BYTES}`)
  }
}

/**
 * Validates a current-form DID document published under `did` (the canonical DID of the IPNS name).
 * Returns it typed; throws `InvalidDocumentError` with a specific `reason`.
 */
export function validateDocument (document: unknown, did: string): DidDocument {
  checkDocumentSize(document)
  const parsed = documentSchema.safeParse(document)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? '' : issue.path.join('.')
    const reason = issue?.code !== 'too_big' ? 'malformed_document' : issue.origin === 'string' ? 'value_too_long' : 'too_many_entries'
    throw new InvalidDocumentError(reason, `the document is malformed at "${where}": ${issue?.message ?? 'invalid'}`)
  }
  const doc = parsed.data as DidDocument
  if (doc.id !== did) {
    throw new InvalidDocumentError('id_mismatch', 'the document id is not the DID it is published under')
  }
  checkContext(doc)
  forbidPrivateKeys(doc)
  for (const controller of toArray(doc.controller)) {
    if (!DID_RE.test(controller)) {
      throw new InvalidDocumentError('malformed_controller', 'controller must be a DID')
    }
  }
  for (const aka of doc.alsoKnownAs ?? []) {
    requireUri(aka, 'alsoKnownAs')
  }

  const ids = new Set<string>()
  const claim = (id: string): void => {
    if (ids.has(id)) {
      throw new InvalidDocumentError('duplicate_id', `the id "${id}" is used twice`)
    }
    ids.add(id)
  }
  const localMethods = new Set<string>()
  for (const vm of doc.verificationMethod ?? []) {
    checkVerificationMethod(vm)
    claim(vm.id)
    localMethods.add(vm.id)
  }
  for (const relationship of VERIFICATION_RELATIONSHIPS) {
    for (const entry of doc[relationship] ?? []) {
      if (typeof entry === 'string') {
        checkReference(entry, relationship, did, localMethods)
      } else {
        checkVerificationMethod(entry)
        claim(entry.id)
      }
    }
  }
  for (const service of doc.service ?? []) {
    requireUri(service.id, 'service id')
    claim(service.id)
    checkEndpoint(service.serviceEndpoint)
  }
  return doc
}

function checkContext (doc: DidDocument): void {
  const context = doc['@context']
  if (context === undefined) {
    throw new InvalidDocumentError('missing_context', `@context is required and must start with "${DID_CONTEXT_V1}"`)
  }
  const first = Array.isArray(context) ? context[0] : context
  if (first !== DID_CONTEXT_V1) {
    throw new InvalidDocumentError('wrong_context', `@context must start with "${DID_CONTEXT_V1}"`)
  }
}

function forbidPrivateKeys (doc: DidDocument): void {
  const methods = [
    ...(doc.verificationMethod ?? []),
    ...VERIFICATION_RELATIONSHIPS.flatMap(r => (doc[r] ?? []).filter((e): e is VerificationMethod => typeof e !== 'string'))
  ]
  for (const vm of methods) {
    if (PRIVATE_KEY_PROPERTIES.some(p => p in vm) ||
        (vm.publicKeyJwk !== undefined && PRIVATE_JWK_MEMBERS.some(m => m in (vm.publicKeyJwk as object)))) {
      throw new InvalidDocumentError('private_key_material', 'the document contains private key material')
    }
  }
}

function checkVerificationMethod (vm: VerificationMethod): void {
  if (!DID_URL_WITH_FRAGMENT_RE.test(vm.id)) {
    throw new InvalidDocumentError('relative_reference', `verification method id "${vm.id}" must be an absolute DID URL with a fragment`)
  }
  if (!DID_RE.test(vm.controller)) {
    throw new InvalidDocumentError('malformed_controller', `verification method "${vm.id}" has a controller that is not a DID`)
  }
  if (vm.publicKeyMultibase !== undefined && vm.publicKeyJwk !== undefined) {
    throw new InvalidDocumentError('conflicting_key_material', `verification method "${vm.id}" has both publicKeyMultibase and publicKeyJwk`)
  }
  if (vm.type === 'Multikey') {
    const multibase = vm.publicKeyMultibase
    if (multibase === undefined) {
      throw new InvalidDocumentError('invalid_key_material', `Multikey "${vm.id}" needs publicKeyMultibase`)
    }
    // Ed25519 (`z6Mk…`) is checked fully; other Multikey types must at least be base58btc multibase.
    if (multibase.startsWith('z6Mk') ? multikeyToEd25519(multibase) === undefined : !/^z[1-9A-HJ-NP-Za-km-z]+$/.test(multibase)) {
      throw new InvalidDocumentError('invalid_key_material', `Multikey "${vm.id}" has an invalid publicKeyMultibase`)
    }
  } else if (vm.type === 'JsonWebKey2020') {
    const jwk = vm.publicKeyJwk
    if (jwk === undefined || typeof jwk.kty !== 'string') {
      throw new InvalidDocumentError('invalid_key_material', `JsonWebKey2020 "${vm.id}" needs a publicKeyJwk with kty`)
    }
    if (jwk.crv === 'Ed25519' && jwkToEd25519(jwk) === undefined) {
      throw new InvalidDocumentError('invalid_key_material', `JsonWebKey2020 "${vm.id}" has an invalid Ed25519 key`)
    }
  }
}

function checkReference (reference: string, relationship: string, did: string, localMethods: Set<string>): void {
  if (!DID_URL_WITH_FRAGMENT_RE.test(reference)) {
    throw new InvalidDocumentError('relative_reference', `${relationship} entry "${reference}" must be an absolute DID URL`)
  }
  if (reference.startsWith(`${did}#`) && !localMethods.has(reference)) {
    throw new InvalidDocumentError('dangling_reference', `${relationship} entry "${reference}" names no verification method of this document`)
  }
}

/** A string endpoint (alone or in the top-level list) must be a URI; a map's content is the service type's. */
function checkEndpoint (endpoint: unknown): void {
  for (const entry of Array.isArray(endpoint) ? endpoint : [endpoint]) {
    if (typeof entry === 'string') {
      requireUri(entry, 'serviceEndpoint')
    } else {
      checkNesting(entry, 1)
    }
  }
}

function checkNesting (value: unknown, depth: number): void {
  if (value === null || typeof value !== 'object') return
  if (depth > MAX_SERVICE_ENDPOINT_DEPTH) {
    throw new InvalidDocumentError('malformed_service', `service endpoints nest deeper than ${MAX_SERVICE_ENDPOINT_DEPTH}`)
  }
  for (const inner of Object.values(value)) checkNesting(inner, depth + 1)
}

function requireUri (value: string, what: string): void {
  if (!URI_SCHEME_RE.test(value)) {
    throw new InvalidDocumentError('malformed_uri', `${what} "${value.slice(0, 80)}" is not an absolute URI`)
  }
}

function toArray<T> (value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

// ---------------------------------------------------------------------------------------------------------
// Building documents

export type KeyFormat = 'Multikey' | 'JsonWebKey2020'

export interface KeySpec {
  /** Fragment naming the key in the document, e.g. `auth-1`. */
  fragment: string
  publicKey: Ed25519PublicKey
  purposes: VerificationRelationship[]
  format?: KeyFormat
}

export interface ServiceSpec {
  fragment: string
  type: string | string[]
  serviceEndpoint: ServiceEndpoint
}

export interface DocumentSpec {
  did: string
  keys: KeySpec[]
  services?: ServiceSpec[]
  alsoKnownAs?: string[]
  /** Extra controllers besides the DID itself. */
  controllers?: string[]
}

/** Builds a current-form document from keys and services, and validates it before returning. */
export function buildDocument (spec: DocumentSpec): DidDocument {
  const { did } = spec
  const formats = new Set(spec.keys.map(k => k.format ?? 'Multikey'))
  const context: string[] = [DID_CONTEXT_V1]
  if (formats.has('Multikey')) context.push(MULTIKEY_CONTEXT_V1)
  if (formats.has('JsonWebKey2020')) context.push(JWS_2020_CONTEXT_V1)

  const doc: DidDocument = { '@context': context, id: did }
  if (spec.controllers !== undefined && spec.controllers.length > 0) {
    doc.controller = [did, ...spec.controllers]
  }
  if (spec.alsoKnownAs !== undefined && spec.alsoKnownAs.length > 0) {
    doc.alsoKnownAs = [...spec.alsoKnownAs]
  }
  if (spec.keys.length > 0) {
    doc.verificationMethod = spec.keys.map(key => {
      const id = `${did}#${key.fragment}`
      return (key.format ?? 'Multikey') === 'Multikey'
        ? { id, type: 'Multikey', controller: did, publicKeyMultibase: ed25519ToMultikey(key.publicKey) }
        : { id, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { ...ed25519ToJwk(key.publicKey) } }
    })
  }
  for (const relationship of VERIFICATION_RELATIONSHIPS) {
    const refs = spec.keys.filter(k => k.purposes.includes(relationship)).map(k => `${did}#${k.fragment}`)
    if (refs.length > 0) doc[relationship] = refs
  }
  if (spec.services !== undefined && spec.services.length > 0) {
    doc.service = spec.services.map(s => ({ id: `${did}#${s.fragment}`, type: s.type, serviceEndpoint: s.serviceEndpoint }))
  }
  return validateDocument(doc, did)
}

/**
 * URI schemes that run or inline content where an endpoint is shown as a link (an explorer, a wallet):
 * `javascript:`, `vbscript:` and `data:`.
 */
export const UNSAFE_URI_SCHEMES: readonly string[] = ['javascript', 'vbscript', 'data']
/** What browsers ignore before a scheme: C0 controls and spaces around it, tabs and newlines inside it. */
const IGNORED_BY_URL_PARSERS_RE = /[\u0000-\u0020]/g

/**
 * Refuses a service with an endpoint (any string in it, at any depth) whose scheme is unsafe to render
 * (`unsafe_uri`). For the services this daemon adds to documents it builds: versions already published keep
 * resolving as they are, unflagged (history is immutable, and validateDocument does not apply this), so whoever
 * renders an endpoint must still treat it as untrusted input.
 */
export function checkServiceSafe (service: Pick<ServiceSpec, 'fragment' | 'serviceEndpoint'>): void {
  // Deeper than the document allows is refused by buildDocument (malformed_service); not walked here.
  const strings = (value: unknown, depth: number): string[] => typeof value === 'string'
    ? [value]
    : value !== null && typeof value === 'object' && depth <= MAX_SERVICE_ENDPOINT_DEPTH + 1 ? Object.values(value).flatMap(v => strings(v, depth + 1)) : []
  for (const text of strings(service.serviceEndpoint, 0)) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text.replace(IGNORED_BY_URL_PARSERS_RE, ''))?.[1]?.toLowerCase()
    if (scheme !== undefined && UNSAFE_URI_SCHEMES.includes(scheme)) {
      throw new InvalidDocumentError('unsafe_uri', `service "${service.fragment}": a ${scheme}: endpoint is refused (it runs or inlines content where it is shown as a link)`)
    }
  }
}

/** The document a deactivated DID carries: its id and context, and nothing usable. */
export function deactivatedDocument (did: string): DidDocument {
  return { '@context': [DID_CONTEXT_V1], id: did }
}

/** True when the document lists no key and no service. */
export function isEmptyDocument (doc: DidDocument): boolean {
  return (doc.verificationMethod ?? []).length === 0 &&
    VERIFICATION_RELATIONSHIPS.every(r => (doc[r] ?? []).length === 0) &&
    (doc.service ?? []).length === 0
}
