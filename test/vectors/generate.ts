/**
 * Writes the interop vectors under test/vectors/ (run: `npm run vectors`). Every vector is one JSON file named
 * for what it shows; `README.md` beside this file documents the format. Keys come from fixed seeds and
 * Ed25519 signatures are deterministic, so re-running yields the same files.
 *
 * Expected outputs of valid cases are produced by the implementation and were reviewed by hand when added;
 * the vector test (test/vectors.test.ts) then pins them.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { createIPNSRecordWithExpiration, marshalIPNSRecord, unmarshalIPNSRecord } from 'ipns'
import { base64 } from 'multiformats/bases/base64'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { buildDocument, MAX_VERIFICATION_METHODS } from '../../src/did/document.ts'
import { didFromPublicKey, parseDid } from '../../src/did/identifier.ts'
import { normaliseLegacyDocument } from '../../src/did/legacy.ts'
import { ed25519ToMultikey } from '../../src/did/keys.ts'
import { createFirstVersion, createNextVersion, signVersionNode } from '../../src/did/version-node.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { formatTime } from '../../src/did/time.ts'
import {
  DAY_MS, ED25519_PUBLIC_KEY_PEM, HOUR_MS, RSA_PUBLIC_KEY_DER_HEX, RSA_PUBLIC_KEY_PEM, T0,
  buildChain, commitmentsTo, documentWithAuthKey, multikeyOf, normalisedAsJson, seededKey, testIdentity
} from '../helpers/fixtures.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'

const here = dirname(fileURLToPath(import.meta.url))
const b64 = (bytes: Uint8Array): string => base64.baseEncode(bytes)

function write (folder: string, name: string, vector: Record<string, unknown>): void {
  mkdirSync(join(here, folder), { recursive: true })
  writeFileSync(join(here, folder, `${name}.json`), JSON.stringify(vector, null, 2) + '\n')
}

function clean (folder: string): void {
  const dir = join(here, folder)
  mkdirSync(dir, { recursive: true })
  for (const file of readdirSync(dir)) if (file.endsWith('.json')) rmSync(join(dir, file))
}

// ------------------------------------------------------------------------------------------------ DIDs
async function dids (): Promise<void> {
  clean('dids')
  const ed = await seededKey(1)
  const edDid = parseDid(didFromPublicKey(ed.publicKey))
  const [edBase32, edBase58] = [`did:ipid:${CID.createV1(0x72, edDid.multihash).toString()}`, `did:ipid:${base58btc.baseEncode(edDid.multihash.bytes)}`]
  const rsaLegacy = 'did:ipid:QmUTE4cxTxihntPEFqTprgbqyyS9YRaRcC8FXp6PACEjFG'
  const rsaCanonical = 'did:ipid:k2k4r8loiklnx960pntm2ivf1iin859od3wceb3vocnkxgcqjcp00dx7'
  const rsaEquivalent = ['did:ipid:bafzbeic22vi44jwvfiedoaoj2uldw6e733gblc36mpos5zwglt52gf6kpm', rsaLegacy]
  const edEquivalent = [edBase32, edBase58]
  const valid = (name: string, description: string, input: string, canonical: string, equivalent: string[], extra: Record<string, unknown> = {}): void => {
    write('dids', `valid_${name}`, { description, input, valid: true, expected: { canonical, equivalent, ...extra } })
  }
  valid('ed25519_base36', 'Ed25519 root key, canonical base36 CIDv1 (k51…)', edDid.did, edDid.did, edEquivalent, { rootKeyType: 'Ed25519' })
  valid('ed25519_base32', 'Ed25519 root key as base32 CIDv1 (bafz…)', edBase32, edDid.did, edEquivalent, { rootKeyType: 'Ed25519' })
  valid('ed25519_base58btc_peer_id', 'Ed25519 root key as a base58btc peer id (12D3KooW…)', edBase58, edDid.did, edEquivalent, { rootKeyType: 'Ed25519' })
  valid('rsa_legacy_qm', 'legacy RSA peer id (sha2-256 multihash, Qm…)', rsaLegacy, rsaCanonical, rsaEquivalent, { rootKeyType: 'hashed' })
  valid('rsa_base36', 'RSA key id as base36 CIDv1 (k2k4r8…)', rsaCanonical, rsaCanonical, rsaEquivalent, { rootKeyType: 'hashed' })
  valid('rsa_base32', 'RSA key id as base32 CIDv1 (bafzbei…)', rsaEquivalent[0]!, rsaCanonical, rsaEquivalent, { rootKeyType: 'hashed' })
  valid('method_draft_example', 'the Ed25519 peer id used in the 2018 method draft', 'did:ipid:12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew',
    parseDid('did:ipid:12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew').did,
    [`did:ipid:${CID.createV1(0x72, parseDid('did:ipid:12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew').multihash).toString()}`, 'did:ipid:12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew'],
    { rootKeyType: 'Ed25519' })
  const url = (name: string, description: string, input: string, parts: Record<string, unknown>): void => {
    write('dids', `valid_url_${name}`, { description, input, kind: 'didUrl', valid: true, expected: { canonical: edDid.did, ...parts } })
  }
  url('fragment', 'DID URL with a key fragment', `${edDid.did}#auth-1`, { path: '', fragment: 'auth-1' })
  url('path_query_fragment', 'DID URL with path, query and fragment', `${edBase58}/profile/photo?versionId=bafy&x=%20y#frag/ment`, { path: '/profile/photo', query: 'versionId=bafy&x=%20y', fragment: 'frag/ment' })
  url('version_time_query', 'DID URL with a versionTime query', `${edDid.did}?versionTime=2026-01-01T00:00:00Z`, { path: '', query: 'versionTime=2026-01-01T00:00:00Z' })

  const invalid = (name: string, description: string, input: unknown, code: string, reason: string, kind = 'did'): void => {
    write('dids', `invalid_${name}`, { description, input, kind, valid: false, error: { code, reason } })
  }
  invalid('empty_string', 'empty input', '', 'invalidDid', 'not_a_did')
  invalid('not_a_string', 'a number instead of a string', 42, 'invalidDid', 'not_a_string')
  invalid('no_did_scheme', 'an IPNS name without did:ipid:', edDid.id, 'invalidDid', 'not_a_did')
  invalid('other_method', 'did:key is another method', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', 'methodNotSupported', 'method_not_supported')
  invalid('uppercase_method', 'method names are lowercase', edDid.did.replace('ipid', 'IPID'), 'invalidDid', 'malformed_method_name')
  invalid('empty_id', 'nothing after did:ipid:', 'did:ipid:', 'invalidDid', 'empty_id')
  invalid('colon_in_id', 'did:ipid ids have no sub-namespaces', `did:ipid:main:${edDid.id}`, 'invalidDid', 'malformed_id')
  invalid('bad_characters', 'characters outside the multibase alphabets', 'did:ipid:k51qzi5uqu5_bad', 'invalidDid', 'malformed_id')
  invalid('whitespace', 'surrounding whitespace is not trimmed', ` ${edDid.did}`, 'invalidDid', 'not_a_did')
  invalid('uppercase_base36', 'uppercase base36 (K…) is not an accepted spelling', `did:ipid:K${edDid.id.slice(1).toUpperCase()}`, 'invalidDid', 'unsupported_encoding')
  invalid('base58_garbage', '"0" and "l" are not base58btc', 'did:ipid:QmUTE4cxTxihntPEFqTprgbqyyS9YRaRcC8FXp6PACEj0l', 'invalidDid', 'malformed_encoding')
  invalid('truncated_base36', 'a base36 CID cut short', `did:ipid:${edDid.id.slice(0, 40)}`, 'invalidDid', 'malformed_encoding')
  invalid('dag_pb_cid', 'a CIDv1 of a dag-pb file names content, not a key', 'did:ipid:bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', 'invalidDid', 'wrong_codec')
  invalid('sha1_multihash', 'libp2p key ids use identity or sha2-256 multihashes', `did:ipid:${CID.createV1(0x72, { code: 0x11, size: 20, digest: new Uint8Array(20), bytes: Uint8Array.of(0x11, 20, ...new Uint8Array(20)) } as never).toString()}`, 'invalidDid', 'unsupported_multihash')
  invalid('identity_not_a_key', 'an identity multihash whose bytes are not a libp2p public key', `did:ipid:${CID.createV1(0x72, identity.digest(new TextEncoder().encode('hello world'))).toString()}`, 'invalidDid', 'identity_not_a_key')
  invalid('id_too_long', 'a method-specific id over the length limit', `did:ipid:k${'1'.repeat(200)}`, 'invalidDid', 'id_too_long')
  invalid('url_too_long', 'a DID URL over the length limit', `${edDid.did}/${'a'.repeat(3000)}`, 'invalidDid', 'too_long', 'didUrl')
  invalid('did_url_given_for_did', 'a DID URL where a bare DID is required', `${edDid.did}#auth-1`, 'invalidDid', 'did_url_not_a_did')
  invalid('bad_percent_encoding', 'a path with a broken percent-escape', `${edDid.did}/a%zzb`, 'invalidDidUrl', 'malformed_path', 'didUrl')
  invalid('space_in_fragment', 'a fragment with a raw space', `${edDid.did}#a b`, 'invalidDidUrl', 'malformed_fragment', 'didUrl')
}

// ------------------------------------------------------------------------------------------ documents
async function documents (): Promise<void> {
  clean('documents')
  const id = await testIdentity(20)
  const { did } = id
  const auth = id.auth[0]!
  const valid = (name: string, description: string, document: unknown): void => {
    write('documents', `valid_${name}`, { description, did, document, valid: true })
  }
  const invalid = (name: string, description: string, document: unknown, reason: string): void => {
    write('documents', `invalid_${name}`, { description, did, document, valid: false, error: { code: 'invalidDidDocument', reason } })
  }
  const base = documentWithAuthKey(did, auth)
  valid('multikey', 'one Ed25519 Multikey for authentication and assertion', base)
  valid('json_web_key_2020', 'an Ed25519 key as JsonWebKey2020', buildDocument({ did, keys: [{ fragment: 'jwk-1', publicKey: auth.publicKey, purposes: ['authentication'], format: 'JsonWebKey2020' }] }))
  valid('services_and_aka', 'services (string, map and list endpoints), alsoKnownAs and an extra controller', buildDocument({
    did,
    keys: [{ fragment: 'auth-1', publicKey: auth.publicKey, purposes: ['authentication', 'capabilityInvocation'] }],
    services: [
      { fragment: 'libp2p', type: 'LibP2PNode', serviceEndpoint: 'https://example.org/p2p' },
      { fragment: 'inbox', type: ['ActivityPubInbox'], serviceEndpoint: { uri: 'https://social.example/inbox', accept: ['application/activity+json'] } },
      { fragment: 'mirrors', type: 'ProfileMirror', serviceEndpoint: ['https://a.example/me', 'https://b.example/me'] }
    ],
    alsoKnownAs: ['https://social.example/@alice', 'at://alice.example'],
    controllers: ['did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK']
  }))
  valid('embedded_method', 'an authentication method embedded in the relationship', {
    '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
    id: did,
    authentication: [{ id: `${did}#embedded`, type: 'Multikey', controller: did, publicKeyMultibase: ed25519ToMultikey(auth.publicKey) }]
  })
  valid('minimal', 'only @context and id (as a deactivated DID has)', { '@context': 'https://www.w3.org/ns/did/v1', id: did })
  valid('foreign_key_reference', 'a relationship referencing another DID\'s key', { ...base, capabilityDelegation: ['did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'] })

  const other = didFromPublicKey((await seededKey(99)).publicKey)
  invalid('id_names_other_did', 'the id is another DID', { ...base, id: other }, 'id_mismatch')
  invalid('id_in_other_encoding', 'a current document must use the canonical DID as id', { ...base, id: `did:ipid:${base58btc.baseEncode(parseDid(did).multihash.bytes)}` }, 'id_mismatch')
  invalid('relative_reference', 'a relative reference did-jwt cannot use', { ...base, authentication: ['#auth-1'] }, 'relative_reference')
  invalid('relative_method_id', 'a verification method with a relative id', { ...base, verificationMethod: [{ ...base.verificationMethod![0]!, id: '#auth-1' }], authentication: undefined, assertionMethod: undefined }, 'relative_reference')
  invalid('dangling_reference', 'authentication names a key the document does not have', { ...base, authentication: [`${did}#nope`] }, 'dangling_reference')
  invalid('duplicate_id', 'a service reuses a key id', { ...base, service: [{ id: `${did}#auth-1`, type: 'X', serviceEndpoint: 'https://x.example' }] }, 'duplicate_id')
  invalid('private_key_multibase', 'a verification method with a private key', { ...base, verificationMethod: [{ ...base.verificationMethod![0]!, privateKeyMultibase: 'z3u2en7t5LR2WtQH5PfsqMpbVhLxZ4e2R4zWJYn2bPZ2jJvK' }] }, 'private_key_material')
  invalid('private_jwk', 'a JWK carrying its private part d', { ...base, verificationMethod: [{ id: `${did}#auth-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' } }] }, 'private_key_material')
  invalid('missing_context', 'no @context', { ...base, '@context': undefined }, 'missing_context')
  invalid('wrong_context', '@context not starting with the DID v1 context', { ...base, '@context': 'https://w3id.org/did/v1' }, 'wrong_context')
  invalid('bad_multikey', 'a Multikey that does not decode to an Ed25519 key', { ...base, verificationMethod: [{ ...base.verificationMethod![0]!, publicKeyMultibase: 'z6MkTOOSHORT' }] }, 'invalid_key_material')
  invalid('bad_jwk', 'an Ed25519 JWK with a short x', { ...base, verificationMethod: [{ id: `${did}#auth-1`, type: 'JsonWebKey2020', controller: did, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }] }, 'invalid_key_material')
  invalid('conflicting_key_material', 'both publicKeyMultibase and publicKeyJwk', { ...base, verificationMethod: [{ ...base.verificationMethod![0]!, publicKeyJwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' } }] }, 'conflicting_key_material')
  invalid('service_endpoint_not_uri', 'a service endpoint that is not an absolute URI', { ...base, service: [{ id: `${did}#s`, type: 'X', serviceEndpoint: '/ipfs/bafy' }] }, 'malformed_uri')
  invalid('verification_method_not_list', 'verificationMethod must be a list', { ...base, verificationMethod: base.verificationMethod![0] }, 'malformed_document')
  invalid('too_many_methods', `more than ${MAX_VERIFICATION_METHODS} verification methods`, {
    ...base,
    verificationMethod: Array.from({ length: MAX_VERIFICATION_METHODS + 1 }, (_, i) => ({ ...base.verificationMethod![0]!, id: `${did}#k${i}` })),
    authentication: undefined,
    assertionMethod: undefined
  }, 'too_many_entries')
  invalid('too_large', 'a document over the size limit', { ...base, service: [{ id: `${did}#big`, type: 'X', serviceEndpoint: { blob: 'x'.repeat(40_000) } }] }, 'document_too_large')
}

// --------------------------------------------------------------------------------------------- legacy
async function legacy (): Promise<void> {
  clean('legacy')
  const draftDid = 'did:ipid:12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew'
  const rsaDid = 'did:ipid:QmUTE4cxTxihntPEFqTprgbqyyS9YRaRcC8FXp6PACEjFG'
  const rsaBase36 = 'did:ipid:k2k4r8loiklnx960pntm2ivf1iin859od3wceb3vocnkxgcqjcp00dx7'
  const ed = await seededKey(30)
  const edDid = didFromPublicKey(ed.publicKey)
  const edPeerDid = `did:ipid:${base58btc.baseEncode(parseDid(edDid).multihash.bytes)}`
  const contextLink = { '/': 'bafyreiauq2tulhnkrktu6brs4jfe472cvgbf2gvvmd6gjjzxy2lyedrmyq' }

  // Resolution time for every legacy vector: keys with `expires` before it are dropped.
  const now = '2020-01-01T00:00:00Z'
  const vector = (name: string, description: string, resolve: string, encoding: 'dag-cbor' | 'json', input: unknown): void => {
    const value = encoding === 'dag-cbor' ? dagJson.decode(dagJson.encode(input)) : JSON.parse(JSON.stringify(input))
    const result = normaliseLegacyDocument(value, parseDid(resolve), { nowMs: Date.parse(now) })
    write('legacy', `legacy_${name}`, {
      description,
      did: resolve,
      now,
      encoding,
      input,
      valid: true,
      expected: normalisedAsJson(result)
    })
  }
  const invalid = (name: string, description: string, resolve: string, encoding: 'dag-cbor' | 'json', input: unknown, reason: string): void => {
    write('legacy', `legacy_invalid_${name}`, { description, did: resolve, now, encoding, input, valid: false, error: { code: 'invalidDidDocument', reason } })
  }

  vector('method_draft_typical', 'the 2018 draft\'s typical document: context link, object authentication naming the bare DID, keys without ids, a revoked key, previous/proof/signature', draftDid, 'dag-cbor', {
    '@context': contextLink,
    authentication: { type: 'EdDsaSASignatureAuthentication2018', publicKey: [draftDid] },
    created: '2018-12-01T03:00:00Z',
    id: draftDid,
    previous: { '/': 'bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua' },
    proof: { '/': 'bafyreiauq2tulhnkrktu6brs4jfe472cvgbf2gvvmd6gjjzxy2lyedrmyq' },
    publicKey: [
      { curve: 'ed25519', publicKeyBase64: 'qmz7tpLNKKKdl7cD7PbejDiBVp7ONpmZbfmc7cEK9mg=', type: 'EdDsaPublicKey', status: 'revoked' },
      { curve: 'ed25519', expires: '2021-07-08T16:02:20Z', publicKeyBase64: 'jGp4OT1GktrZMdrkOM+zj8iE1IqCiqg2iH+rUZ93jhE=', type: 'EdDsaPublicKey' }
    ],
    signature: { created: '2018-12-01T03:00:04Z', creator: 'bafyreiauq2tulhnkrktu6brs4jfe472cvgbf2gvvmd6gjjzxy2lyedrmyq/publicKey/1', signatureValue: 'WDA3Dx7c', type: 'ed25519Signature2018' },
    updated: '2018-12-01T03:00:04Z'
  })
  vector('method_draft_initial_no_id', 'the 2018 draft\'s first document: no id (filled from the DID), no authentication', draftDid, 'dag-cbor', {
    '@context': contextLink,
    created: '2018-12-01T03:00:00Z',
    publicKey: [{ curve: 'ed25519', expires: '2019-12-01T03:00:00Z', publicKeyBase64: 'qmz7tpLNKKKdl7cD7PbejDiBVp7ONpmZbfmc7cEK9mg=', type: 'EdDsaPublicKey' }],
    updated: '2018-12-01T03:00:01Z'
  })
  vector('method_draft_deactivated_empty_map', 'the empty map {}: the 2018 draft\'s deactivation', draftDid, 'dag-cbor', {})
  vector('js_did_ipid_unixfs_minimal', 'js-did-ipid 0.1/0.2: a UnixFS JSON file with only @context, id, created (ms precision)', rsaDid, 'json', {
    '@context': 'https://w3id.org/did/v1', id: rsaDid, created: '2019-03-18T15:55:38.636Z'
  })
  vector('js_did_ipid_full', 'js-did-ipid 0.4: RSA key as DER hex, string authentication, a ";hub" service id', rsaDid, 'dag-cbor', {
    '@context': 'https://w3id.org/did/v1',
    id: rsaDid,
    created: '2019-03-18T15:55:38.636Z',
    publicKey: [{ id: `${rsaDid}#PK1`, controller: rsaDid, type: 'RsaVerificationKey2018', publicKeyHex: RSA_PUBLIC_KEY_DER_HEX }],
    authentication: [`${rsaDid}#PK1`],
    service: [{ id: `${rsaDid};hub`, type: 'HubService', serviceEndpoint: 'https://hub.example.com/' }],
    updated: '2019-03-18T15:55:38.636Z'
  })
  vector('js_did_ipid_fork_hash_service', 'the js-did-ipid fork that writes service ids with "#"', rsaDid, 'dag-cbor', {
    '@context': 'https://w3id.org/did/v1',
    id: rsaDid,
    publicKey: [{ id: `${rsaDid}#PK1`, controller: rsaDid, type: 'RsaVerificationKey2018', publicKeyPem: RSA_PUBLIC_KEY_PEM }],
    authentication: [`${rsaDid}#PK1`],
    service: [{ id: `${rsaDid}#hub`, type: 'HubService', serviceEndpoint: 'https://hub.example.com/' }]
  })
  vector('galacteek_old', 'galacteek (2020): context link to a UnixFS file, RSA PEM key, object authentication, "/" service ids, IPFS path endpoint, previous link', rsaDid, 'dag-cbor', {
    '@context': { '/': 'QmfS56jDfrXNaS6Xcsp3RJiXd2wyY7smeEAwyTAnL1RhEG' },
    publicKey: [{ id: `${rsaDid}#keys-1`, type: 'RsaVerificationKey2018', controller: rsaDid, publicKeyPem: RSA_PUBLIC_KEY_PEM }],
    service: [
      { id: `${rsaDid}/avatar`, type: 'DwebAvatarService', serviceEndpoint: '/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy/avatar.png', description: 'User Avatar' },
      { id: `${rsaDid}/ps-rendezvous`, type: 'PSRendezVousService', description: 'PubSub rendezvous', serviceEndpoint: '/p2p/12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew/x/ps-rendezvous/1.0.0' },
      { id: `${rsaDid}/collections/mycoll`, type: 'ObjectsCollectionService', serviceEndpoint: { '@context': { '/': 'QmfS56jDfrXNaS6Xcsp3RJiXd2wyY7smeEAwyTAnL1RhEG' }, name: 'mycoll', created: '2020-06-01T12:00:00.123456+00:00', objects: [] } }
    ],
    created: '2020-06-01T12:00:00Z',
    updated: '2020-06-01T12:00:05Z',
    id: rsaDid,
    authentication: [{ id: `${rsaDid}#keys-1`, type: 'RsaSignatureAuthentication2018', controller: rsaDid, publicKey: [rsaDid] }],
    previous: { '/': 'bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua' }
  })
  vector('galacteek_new', 'galacteek (latest): {"@vocab"} context, "@type", a passport service with a JSON-LD endpoint, no previous', rsaBase36, 'dag-cbor', {
    '@context': { '@vocab': 'ips://galacteek.ld/' },
    '@type': 'did',
    id: rsaBase36,
    publicKey: [{ id: `${rsaBase36}#keys-1`, type: 'RsaVerificationKey2018', controller: rsaBase36, publicKeyPem: RSA_PUBLIC_KEY_PEM }],
    authentication: [{ id: `${rsaBase36}#keys-1`, type: 'RsaSignatureAuthentication2018', controller: rsaBase36, publicKey: [rsaBase36] }],
    service: [{
      id: `${rsaBase36}/passport`,
      type: 'DwebPassportService',
      serviceEndpoint: { '@context': 'ips://galacteek.ld/DwebPassport', '@type': 'DwebPassport', '@id': `${rsaBase36}/passport/DwebPassport`, me: { '@id': `${rsaBase36}/passport/me`, '@type': 'Person', nickName: 'alice' } }
    }],
    created: '2021-02-01T10:00:00Z',
    updated: '2021-02-02T10:00:00Z'
  })
  vector('id_in_other_encoding', 'resolving k51… while the document id is the 12D3KooW… form of the same key; an Ed25519 PEM key', edDid, 'dag-cbor', {
    '@context': 'https://w3id.org/did/v1',
    id: edPeerDid,
    publicKey: [{ id: `${edPeerDid}#key-1`, type: 'Ed25519VerificationKey2018', controller: edPeerDid, publicKeyPem: ED25519_PUBLIC_KEY_PEM }],
    authentication: [`${edPeerDid}#key-1`]
  })
  vector('ed25519_base58_key', 'Ed25519VerificationKey2018 with publicKeyBase58 and a relative reference', edDid, 'json', {
    '@context': ['https://w3id.org/did/v1'],
    id: edDid,
    publicKey: [{ id: '#key-1', type: 'Ed25519VerificationKey2018', publicKeyBase58: base58btc.baseEncode(ed.publicKey.raw) }],
    authentication: ['#key-1'],
    assertionMethod: ['#key-1', '#missing']
  })
  vector('readme_2017', 'the 2017 README sample: /ipfs/ context path, keys under owner with bare-DID and /key-2 ids, service as a map', draftDid, 'json', {
    '@context': '/ipfs/QmfS56jDfrXNaS6Xcsp3RJiXd2wyY7smeEAwyTAnL1RhEG',
    id: draftDid,
    owner: [
      { id: draftDid, type: ['CryptographicKey', 'EdDsaPublicKey'], curve: 'ed25519', expires: '2017-02-08T16:02:20Z', publicKeyBase64: 'lji9qTtkCydxtez/bt1zdLxVMMbz4SzWvlqgOBmURoM=' },
      { id: `${draftDid}/key-2`, type: ['CryptographicKey', 'RsaPublicKey'], publicKeyPem: RSA_PUBLIC_KEY_PEM }
    ],
    control: [{ type: 'OrControl', signer: ['did:sov:8uQhQMGzWxR8vw5P3UWH1j'] }],
    service: { did: 'did:sov:8uQhQMGzWxR8vw5P3UWH1j' },
    created: '2017-09-24T17:00:00Z',
    updated: '2018-09-24T02:41:00Z'
  })
  vector('private_key_dropped', 'a legacy key published with its private PEM is dropped, never served', rsaDid, 'json', {
    '@context': 'https://w3id.org/did/v1',
    id: rsaDid,
    publicKey: [
      { id: `${rsaDid}#leak`, type: 'RsaVerificationKey2018', publicKeyPem: '-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n' },
      { id: `${rsaDid}#ok`, type: 'RsaVerificationKey2018', publicKeyPem: RSA_PUBLIC_KEY_PEM }
    ],
    authentication: [`${rsaDid}#leak`, `${rsaDid}#ok`]
  })

  invalid('id_names_other_did', 'a document whose id is another DID', rsaDid, 'json', { '@context': 'https://w3id.org/did/v1', id: draftDid }, 'id_mismatch')
  invalid('not_an_object', 'a list is not a document', rsaDid, 'json', [{ id: rsaDid }], 'not_an_object')
  invalid('string', 'a string is not a document', rsaDid, 'json', 'did:ipid:QmUTE4cxTxihntPEFqTprgbqyyS9YRaRcC8FXp6PACEjFG', 'not_an_object')
  invalid('too_large', 'a document over the size limit', rsaDid, 'json', { '@context': 'https://w3id.org/did/v1', id: rsaDid, padding: 'x'.repeat(40_000) }, 'document_too_large')
}

// --------------------------------------------------------------------------------------------- chains
async function chains (): Promise<void> {
  clean('chains')
  const id = await testIdentity(40)
  const { did } = id
  type Block = { cid: { toString: () => string }, bytes: Uint8Array }
  const blocksOf = (...lists: Block[][]): Record<string, string> =>
    Object.fromEntries(lists.flat().map(b => [b.cid.toString(), b64(b.bytes)]))
  const vector = (name: string, description: string, blocks: Block[][], head: Block, outcome: Record<string, unknown>, known?: DecodedVersionNode): void => {
    write('chains', name, {
      description,
      did,
      head: head.cid.toString(),
      ...(known === undefined ? {} : { known: { cid: known.cid.toString(), version: known.node.version } }),
      blocks: blocksOf(...blocks),
      ...outcome
    })
  }
  const ok = (versions: DecodedVersionNode[]): Record<string, unknown> => ({ valid: true, expected: { kind: 'extends', versions: versions.map(v => v.cid.toString()) } })
  const fail = (name: string, reason: string, code = 'invalidDidDocument'): Record<string, unknown> => ({ valid: false, error: { name, code, reason } })

  const chain = await buildChain(id, 3, T0)
  const [v1, v2, v3] = chain as [DecodedVersionNode, DecodedVersionNode, DecodedVersionNode]
  const upd = multikeyOf(id.update[0]!)
  vector('chain_valid_single_version', 'one version, signed by the root key', [[v1]], v1, ok([v1]))
  vector('chain_valid_three_versions', 'three versions, the authentication key rotated each time', [chain], v3, ok([v3, v2, v1]))
  vector('chain_valid_extends_verified_head', 'version 3 offered to a resolver that verified version 1', [chain], v3, ok([v3, v2]), v1)
  vector('chain_valid_same_as_verified_head', 'the verified head offered again', [chain], v2, { valid: true, expected: { kind: 'same' } }, v2)
  vector('chain_valid_older_than_verified_head', 'an older head offered: kept out (no rollback), not an error', [chain], v1, { valid: true, expected: { kind: 'older' } }, v3)

  const p1 = await createFirstVersion({ document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd], nextUpdateKeyHashes: await commitmentsTo(id.update[1]!) }, id.root, T0)
  const p2 = await createNextVersion(p1, { document: documentWithAuthKey(did, id.auth[1]!), updateKeys: [multikeyOf(id.update[1]!)], nextUpdateKeyHashes: await commitmentsTo(id.update[2]!) }, id.update[1]!, T0 + HOUR_MS)
  const p3 = await createNextVersion(p2, { document: documentWithAuthKey(did, id.auth[2]!), updateKeys: [multikeyOf(id.update[2]!)] }, id.update[2]!, T0 + 2 * HOUR_MS)
  vector('chain_valid_prerotation', 'pre-rotation kept: each version is signed by, and names, keys the version before committed to', [[p1, p2, p3]], p3, ok([p3, p2, p1]))
  const pBroken = await createNextVersion(p1, { document: documentWithAuthKey(did, id.auth[1]!), updateKeys: [multikeyOf(id.update[2]!)] }, id.update[1]!, T0 + HOUR_MS)
  vector('chain_invalid_prerotation_broken', 'version 2 names an update key version 1 did not commit to', [[p1, pBroken]], pBroken, fail('InvalidChainError', 'prerotation_broken'))
  const pThief = await createNextVersion(p1, { document: documentWithAuthKey(did, id.auth[1]!), updateKeys: [multikeyOf(id.update[1]!)] }, id.update[0]!, T0 + HOUR_MS)
  vector('chain_invalid_prerotation_signer_not_committed', 'version 2 signed by version 1\'s update key, which version 1 did not commit to as a next key (a thief of the current key)', [[p1, pThief]], pThief, fail('InvalidChainError', 'signer_not_committed'))
  const pThiefDeact = await createNextVersion(p1, { deactivate: true }, id.update[0]!, T0 + HOUR_MS)
  vector('chain_invalid_prerotation_thief_deactivates', 'a deactivation signed by an uncommitted key under pre-rotation', [[p1, pThiefDeact]], pThiefDeact, fail('InvalidChainError', 'signer_not_committed'))
  const rootAsUpdate = await createFirstVersion({ document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [multikeyOf(id.root)] }, id.root, T0)
  vector('chain_invalid_root_key_as_update_key', 'the first version names the root key as an update key', [[rootAsUpdate]], rootAsUpdate, fail('InvalidChainError', 'root_key_as_update_key'))

  const deact = await createNextVersion(v2, { deactivate: true }, id.update[0]!, T0 + 5 * HOUR_MS)
  vector('chain_valid_deactivated', 'version 3 deactivates the DID', [[v1, v2, deact]], deact, ok([deact, v2, v1]))
  const afterDeact = await signVersionNode({ version: 4, prev: deact.cid, created: v1.node.created, updated: formatTime(T0 + 6 * HOUR_MS), deactivated: false, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_version_after_deactivation', 'a version after the deactivating one', [[v1, v2, deact, afterDeact]], afterDeact, fail('InvalidChainError', 'after_deactivation'))

  const wrongGenesis = await createFirstVersion({ document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!, T0)
  vector('chain_invalid_genesis_not_signed_by_root', 'the first version is signed by an update key, not the root key', [[wrongGenesis]], wrongGenesis, fail('InvalidChainError', 'genesis_not_signed_by_root'))

  // The thief holds the root key and brings a key of its own to list as update key.
  const thiefKey = await seededKey(200)
  const rootOnly = await createNextVersion(v3, { document: documentWithAuthKey(did, thiefKey), updateKeys: [multikeyOf(thiefKey)] }, id.root, T0 + 10 * HOUR_MS)
  vector('chain_invalid_signed_by_root_key_alone', 'version 4 signed by the root key, which is not an update key', [chain, [rootOnly]], rootOnly, fail('InvalidChainError', 'signer_not_authorised'))
  vector('chain_fork_root_key_extension', 'stolen root key: version 4 signed with it, offered to a resolver that verified version 3', [chain, [rootOnly]], rootOnly, fail('ForkError', 'signer_not_authorised'), v3)
  const forged: DecodedVersionNode[] = [await createFirstVersion({ document: documentWithAuthKey(did, thiefKey), updateKeys: [multikeyOf(thiefKey)] }, id.root, T0)]
  for (let i = 1; i < 4; i++) forged.push(await createNextVersion(forged[i - 1]!, { document: documentWithAuthKey(did, thiefKey), updateKeys: [multikeyOf(thiefKey)] }, thiefKey, T0 + i * HOUR_MS))
  vector('chain_fork_root_key_new_history', 'stolen root key: a whole new 4-version history, offered to a resolver that verified version 3', [chain, forged], forged[3]!, fail('ForkError', 'fork'), v3)
  vector('chain_fork_root_key_new_genesis_older', 'stolen root key: a new version 1, lower than the verified version 3 but not its ancestor', [chain, forged], forged[0]!, fail('ForkError', 'fork'), v3)
  const equivocation = await createNextVersion(v1, { document: documentWithAuthKey(did, id.auth[2]!), updateKeys: [upd] }, id.update[0]!, T0 + 3 * HOUR_MS)
  vector('chain_fork_same_version_twice', 'two different version 2 nodes, both validly signed', [chain, [equivocation]], equivocation, fail('ForkError', 'fork'), v2)

  const goesBack = await signVersionNode({ version: 2, prev: v2.cid, created: v1.node.created, updated: formatTime(T0 + 4 * HOUR_MS), deactivated: false, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_sequence_goes_back', 'a version numbered 2 after version 2', [[v1, v2, goesBack]], goesBack, fail('InvalidChainError', 'version_goes_back'))
  const skips = await signVersionNode({ version: 5, prev: v2.cid, created: v1.node.created, updated: formatTime(T0 + 4 * HOUR_MS), deactivated: false, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_sequence_skips', 'version 5 directly after version 2', [[v1, v2, skips]], skips, fail('InvalidChainError', 'version_skips'))
  const timeBack = await signVersionNode({ version: 3, prev: v2.cid, created: v1.node.created, updated: formatTime(T0 + 30 * 60 * 1000), deactivated: false, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_time_goes_back', 'version 3 is dated before version 2', [[v1, v2, timeBack]], timeBack, fail('InvalidChainError', 'time_goes_back'))
  const createdChanged = await signVersionNode({ version: 3, prev: v2.cid, created: formatTime(T0 + 60_000), updated: formatTime(T0 + 4 * HOUR_MS), deactivated: false, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_created_changed', 'version 3 claims another creation time', [[v1, v2, createdChanged]], createdChanged, fail('InvalidChainError', 'created_changed'))

  const tampered = new Uint8Array(v2.bytes)
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
  vector('chain_invalid_cid_mismatch', 'the block served for version 2 does not hash to its CID', [[v1, v3], [{ cid: v2.cid, bytes: tampered }]], v3, fail('InvalidVersionNodeError', 'cid_mismatch'))
  const badSigValue = dagCbor.decode<Record<string, unknown>>(v2.bytes)
  const sig = new Uint8Array(badSigValue.signature as Uint8Array)
  sig[0] = (sig[0] ?? 0) ^ 1
  const badSigBytes = dagCbor.encode({ ...badSigValue, signature: sig })
  const badSigCid = CID.createV1(dagCbor.code, await sha256.digest(badSigBytes))
  vector('chain_invalid_bad_signature', 'version 2 with one bit of its signature flipped (re-addressed, so the CID matches)', [[v1, { cid: badSigCid, bytes: badSigBytes }]], { cid: badSigCid, bytes: badSigBytes }, fail('InvalidVersionNodeError', 'bad_signature'))
  const otherDid = didFromPublicKey((await seededKey(99)).publicKey)
  const foreignDoc = await signVersionNode({ version: 1, created: formatTime(T0), updated: formatTime(T0), deactivated: false, document: documentWithAuthKey(otherDid, id.auth[0]!), updateKeys: [upd] }, id.root)
  vector('chain_invalid_document_names_other_did', 'the document inside names another DID', [[foreignDoc]], foreignDoc, fail('InvalidDocumentError', 'id_mismatch'))
  const foreignNext = await signVersionNode({ version: 4, prev: v3.cid, created: v1.node.created, updated: formatTime(T0 + 4 * HOUR_MS), deactivated: false, document: documentWithAuthKey(otherDid, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_fork_document_names_other_did', 'a validly signed version 4 whose document names another DID, offered to a resolver that verified version 3', [chain, [foreignNext]], foreignNext, fail('ForkError', 'id_mismatch'), v3)
  const bigDoc = { ...documentWithAuthKey(did, id.auth[0]!), service: [{ id: `${did}#big`, type: 'X', serviceEndpoint: { blob: 'x'.repeat(33_000) } }] }
  const big = await signVersionNode({ version: 1, created: formatTime(T0), updated: formatTime(T0), deactivated: false, document: bigDoc, updateKeys: [upd] }, id.root)
  vector('chain_invalid_document_too_large', 'the document inside is over the size limit', [[big]], big, fail('InvalidDocumentError', 'document_too_large'))
  const notNodeBytes = dagCbor.encode({ '@context': 'https://www.w3.org/ns/did/v1', id: did, ipid: 1, document: 'no' })
  const notNode = { cid: CID.createV1(dagCbor.code, await sha256.digest(notNodeBytes)), bytes: notNodeBytes }
  vector('chain_invalid_malformed_node', 'a dag-cbor block claiming to be a version node with the wrong fields', [[notNode]], notNode, fail('InvalidVersionNodeError', 'malformed_node'))
  const deactWithKeys = await signVersionNode({ version: 3, prev: v2.cid, created: v1.node.created, updated: formatTime(T0 + 4 * HOUR_MS), deactivated: true, document: documentWithAuthKey(did, id.auth[0]!), updateKeys: [upd] }, id.update[0]!)
  vector('chain_invalid_deactivated_with_keys', 'a deactivating version that still lists keys', [[v1, v2, deactWithKeys]], deactWithKeys, fail('InvalidVersionNodeError', 'deactivated_with_keys'))
}

// -------------------------------------------------------------------------------------------- records
async function records (): Promise<void> {
  clean('records')
  const key = await seededKey(50)
  const did = didFromPublicKey(key.publicKey)
  const value = CID.parse('bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua')
  const now = T0 + HOUR_MS
  const validUntilMs = T0 + 7 * DAY_MS
  const vector = (name: string, description: string, bytes: Uint8Array, outcome: Record<string, unknown>, recordDid = did): void => {
    write('records', name, { description, did: recordDid, now: new Date(now).toISOString(), record: b64(bytes), ...outcome })
  }
  const good = await createRecord({ privateKey: key, value, sequence: 5n, validUntilMs })
  const okExpect = (r: { sequence: bigint, validUntilMs: number, ttlMs: number }, v = value.toString()): Record<string, unknown> =>
    ({ valid: true, expected: { value: `/ipfs/${v}`, cid: v, sequence: r.sequence.toString(), validUntil: new Date(r.validUntilMs).toISOString(), ttlMs: r.ttlMs } })
  vector('record_valid_v1_v2', 'a V1+V2 record as ipidd creates it', good.bytes, okExpect(good))
  const v2Only = unmarshalIPNSRecord(good.bytes)
  const v2OnlyBytes = marshalIPNSRecord({ value: v2Only.value, signatureV2: v2Only.signatureV2, validityType: v2Only.validityType, validity: v2Only.validity, sequence: v2Only.sequence, ttl: v2Only.ttl, data: v2Only.data })
  vector('record_valid_v2_only', 'the same record without its V1 fields', v2OnlyBytes, okExpect(good))
  const expired = await createRecord({ privateKey: key, value, sequence: 5n, validUntilMs: now - 1000 })
  vector('record_invalid_expired', 'validity ended before now', expired.bytes, { valid: false, error: { code: 'notFound', reason: 'expired' } })
  const thief = await seededKey(51)
  const forged = await createRecord({ privateKey: thief, value, sequence: 6n, validUntilMs })
  vector('record_invalid_signed_by_other_key', 'signed by a key other than the one the name inlines', forged.bytes, { valid: false, error: { code: 'notFound', reason: 'bad_signature' } })
  const forgedRecord = unmarshalIPNSRecord(forged.bytes)
  const embedded = marshalIPNSRecord({ ...forgedRecord, pubKey: publicKeyToProtobuf(thief.publicKey) })
  vector('record_invalid_embedded_key_mismatch', 'embeds (and is signed by) a public key other than the name\'s', embedded, { valid: false, error: { code: 'notFound', reason: 'key_mismatch' } })
  const goodRecord = unmarshalIPNSRecord(good.bytes)
  const v1Mismatch = marshalIPNSRecord({ ...goodRecord, value: '/ipfs/bafkqaaa' })
  vector('record_invalid_v1_value_mismatch', 'the V1 value differs from the signed V2 data', v1Mismatch, { valid: false, error: { code: 'notFound', reason: 'malformed_record' } })
  const other = await createRecord({ privateKey: key, value: CID.parse('bafkqaaa'), sequence: 5n, validUntilMs })
  const spliced = marshalIPNSRecord({ ...unmarshalIPNSRecord(other.bytes), signatureV2: goodRecord.signatureV2 })
  vector('record_invalid_tampered_data', 'signed data replaced (value changed) under the old signature', spliced, { valid: false, error: { code: 'notFound', reason: 'bad_signature' } })
  vector('record_invalid_garbage', 'bytes that are not an IPNS record', new TextEncoder().encode('not a record at all'), { valid: false, error: { code: 'notFound', reason: 'malformed_record' } })
  vector('record_invalid_too_large', 'over the 10 KiB record limit', new Uint8Array(10 * 1024 + 1), { valid: false, error: { code: 'notFound', reason: 'record_too_large' } })
  const pointsAtName = await createRecordWithPath(key, `/ipns/${parseDid(did).id}`, 7n, validUntilMs)
  vector('record_value_not_ipfs_path', 'a valid record pointing at another IPNS name: not a version node', pointsAtName, { valid: true, valueError: { code: 'notFound', reason: 'value_not_ipfs_path' } })

  const seq3 = await createRecord({ privateKey: key, value, sequence: 3n, validUntilMs: T0 + 30 * DAY_MS })
  const seq5short = await createRecord({ privateKey: key, value, sequence: 5n, validUntilMs: T0 + 2 * DAY_MS })
  write('records', 'order_higher_sequence_wins', { description: 'sequence 5 beats sequence 3 even though 3 lives longer', did, now: new Date(now).toISOString(), a: b64(seq5short.bytes), b: b64(seq3.bytes), expected: 'a' })
  write('records', 'order_same_sequence_later_eol_wins', { description: 'equal sequence: the later EOL wins', did, now: new Date(now).toISOString(), a: b64(seq5short.bytes), b: b64(good.bytes), expected: 'b' })
}

async function createRecordWithPath (key: Awaited<ReturnType<typeof seededKey>>, path: string, sequence: bigint, validUntilMs: number): Promise<Uint8Array> {
  return marshalIPNSRecord(await createIPNSRecordWithExpiration(key, path, sequence, new Date(validUntilMs).toISOString(), { v1Compatible: true }))
}

await dids()
await documents()
await legacy()
await chains()
await records()
process.stdout.write('vectors written under test/vectors/\n')
