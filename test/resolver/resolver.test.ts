/**
 * The resolver against real embedded nodes on 127.0.0.1: A publishes, C resolves. No mocks.
 */
import { createJWT, EdDSASigner, verifyJWT } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNextVersion, createFirstVersion, signVersionNode } from '../../src/did/version-node.ts'
import { equivalentDids, parseDid } from '../../src/did/identifier.ts'
import { getResolver } from '../../src/resolver/driver.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { HOUR_MS, documentWithAuthKey, multikeyOf, seededKey, testIdentity } from '../helpers/fixtures.ts'
import { eventually, publishLegacy, publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'

let a: EmbeddedNode
let c: EmbeddedNode
let resolver: Resolver

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  resolver = new Resolver({ backend: c, deadlineMs: 5000 })
})
afterAll(async () => {
  resolver.stop()
  await stopAll([a, c])
})

const now = (): number => Date.now()

describe('resolver over the network', () => {
  it('resolves a published DID with full metadata; a rotation arrives by pubsub; the old version stays addressable', async () => {
    const id = await testIdentity(200)
    const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, now() - HOUR_MS)
    await publishVersion(a, id.root, v1)

    const first = await resolver.resolve(id.did)
    expect(first.didResolutionMetadata.error).toBeUndefined()
    expect(first.didDocument).toEqual(v1.node.document)
    expect(first.didDocumentMetadata).toMatchObject({
      versionId: v1.cid.toString(), created: v1.node.created, updated: v1.node.updated, deactivated: false,
      canonicalId: id.did, equivalentId: equivalentDids(parseDid(id.did))
    })
    expect(first.didResolutionMetadata).toMatchObject({ contentType: 'application/did+ld+json', stale: false, source: 'network' })

    // Another spelling of the same DID gives the same answer.
    const other = await resolver.resolve(equivalentDids(parseDid(id.did))[1]!)
    expect(other.didDocumentMetadata.versionId).toBe(v1.cid.toString())

    // A JWT signed with the first authentication key verifies.
    const didResolver = new DidResolver(getResolver(resolver))
    const jwt = await createJWT({ aud: 'did:example:app', nonce: 'n1' }, { issuer: id.did, signer: EdDSASigner(id.auth[0]!.raw) }, { alg: 'EdDSA' })
    await expect(verifyJWT(jwt, { resolver: didResolver, audience: 'did:example:app', proofPurpose: 'authentication' })).resolves.toMatchObject({ issuer: id.did })

    // A rotates its authentication key; C, watching the name, sees it without asking.
    const v2 = await createNextVersion(v1, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, now())
    await publishVersion(a, id.root, v2)
    const seen = await eventually(async () => {
      const r = await resolver.resolve(id.did)
      return r.didDocumentMetadata.versionId === v2.cid.toString() ? r : undefined
    }, 5000)
    expect(seen.didDocument).toEqual(v2.node.document)
    expect(seen.didResolutionMetadata.source).toBe('pubsub')

    const old = await resolver.resolve(id.did, { versionId: v1.cid.toString() })
    expect(old.didDocument).toEqual(v1.node.document)
    expect(old.didDocumentMetadata).toMatchObject({ versionId: v1.cid.toString(), nextVersionId: v2.cid.toString(), nextUpdate: v2.node.updated })

    // The old key no longer verifies — except against the version in force when it was used.
    await expect(verifyJWT(jwt, { resolver: didResolver, audience: 'did:example:app', proofPurpose: 'authentication' })).rejects.toThrow()
    const atOldTime = { resolve: async (did: string, options?: object) => didResolver.resolve(`${did}?versionTime=${v1.node.updated}`, options as never) }
    await expect(verifyJWT(jwt, { resolver: atOldTime, audience: 'did:example:app', proofPurpose: 'authentication' })).resolves.toMatchObject({ issuer: id.did })
  })

  it('concurrent resolves of one DID share one network lookup', async () => {
    const id = await testIdentity(280)
    const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, now())
    await publishVersion(a, id.root, v1)
    let lookups = 0
    // The real node, with its record lookups counted.
    const counted = Object.assign(Object.create(c) as EmbeddedNode, { getRecord: async (...args: Parameters<EmbeddedNode['getRecord']>) => { lookups++; return c.getRecord(...args) } })
    const fresh = new Resolver({ backend: counted, watch: false })
    const results = await Promise.all(Array.from({ length: 20 }, async () => fresh.resolve(id.did)))
    expect(results.every(r => r.didDocumentMetadata.versionId === v1.cid.toString())).toBe(true)
    expect(lookups).toBe(1)
  })

  it('a deactivated DID resolves with deactivated: true and no usable keys', async () => {
    const id = await testIdentity(210)
    const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, now() - HOUR_MS)
    const v2 = await createNextVersion(v1, { deactivate: true }, id.update[0]!, now())
    await a.putBlock(v1.cid, v1.bytes)
    await publishVersion(a, id.root, v2)
    const result = await resolver.resolve(id.did)
    expect(result.didDocumentMetadata.deactivated).toBe(true)
    expect(result.didDocument?.verificationMethod).toBeUndefined()
    expect(result.didDocument?.authentication).toBeUndefined()
  })

  it('a stolen root key cannot move a verifying resolver off the chain; the owner\'s next version is accepted', async () => {
    const id = await testIdentity(220)
    const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, now() - 2 * HOUR_MS)
    const v2 = await createNextVersion(v1, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, now() - HOUR_MS)
    await a.putBlock(v1.cid, v1.bytes)
    await publishVersion(a, id.root, v2)
    expect((await resolver.resolve(id.did)).didDocumentMetadata.versionId).toBe(v2.cid.toString())

    // The thief, holding only the root key, builds its own history and publishes it with a higher sequence.
    const thief = await seededKey(230)
    const forged: DecodedVersionNode[] = [await createFirstVersion({ document: documentWithAuthKey(id.did, thief), updateKeys: [multikeyOf(thief)] }, id.root, now() - 3 * HOUR_MS)]
    for (let i = 1; i < 4; i++) forged.push(await createNextVersion(forged[i - 1]!, { document: documentWithAuthKey(id.did, thief), updateKeys: [multikeyOf(thief)] }, thief, now() - 3 * HOUR_MS + i))
    for (const node of forged.slice(0, -1)) await a.putBlock(node.cid, node.bytes)
    await publishVersion(a, id.root, forged.at(-1)!, { sequence: 50n })

    const afterForgery = await resolver.resolve(id.did, { noCache: true })
    expect(afterForgery.didDocumentMetadata.versionId).toBe(v2.cid.toString())
    expect(afterForgery.didResolutionMetadata.forkEvidence).toEqual([expect.objectContaining({ reason: 'fork', knownHead: v2.cid.toString(), offeredHead: forged.at(-1)!.cid.toString() })])

    const v3 = await createNextVersion(v2, { document: documentWithAuthKey(id.did, id.auth[2]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, now())
    await publishVersion(a, id.root, v3, { sequence: 51n })
    const recovered = await eventually(async () => {
      const r = await resolver.resolve(id.did, { noCache: true })
      return r.didDocumentMetadata.versionId === v3.cid.toString() ? r : undefined
    })
    expect(recovered.didDocument).toEqual(v3.node.document)
  })

  it('a legacy document published as a bare document resolves to its normalised form', async () => {
    const root = await seededKey(240)
    const { didFromPublicKey } = await import('../../src/did/identifier.ts')
    const did = didFromPublicKey(root.publicKey)
    const cid = await publishLegacy(a, root, did, {
      '@context': 'https://w3id.org/did/v1',
      id: did,
      publicKey: [{ id: `${did}#key-1`, type: 'Ed25519VerificationKey2018', publicKeyBase58: 'GfHq2tTVk9z4eXgyNRg7EnUdVXXnmtWKM7JJrb3MGtqr' }],
      authentication: [`${did}#key-1`]
    })
    const result = await resolver.resolve(did)
    expect(result.didResolutionMetadata.error).toBeUndefined()
    expect(result.didDocumentMetadata).toMatchObject({ versionId: cid.toString(), normalised: true, deactivated: false })
    expect(result.didDocument?.authentication).toEqual([`${did}#key-1`])
  })

  it('bad input gets the right error and never a document', async () => {
    const cases: Array<[string, string]> = [
      ['did:ipid:', 'invalidDid'],
      ['did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', 'methodNotSupported'],
      [(await testIdentity(250)).did, 'notFound']
    ]
    for (const [did, code] of cases) {
      const result = await resolver.resolve(did, { deadlineMs: 1000 })
      expect(result.didResolutionMetadata.error).toBe(code)
      expect(result.didDocument).toBeNull()
    }
    const id = await testIdentity(200)
    expect((await resolver.resolve(id.did, { versionId: 'not-a-cid' })).didResolutionMetadata.error).toBe('invalidOptions')
  })

  it('a version node whose document names another DID is refused with invalidDidDocument', async () => {
    const id = await testIdentity(260)
    const other = await testIdentity(270)
    const bad = await signVersionNode({ version: 1, created: '2026-01-01T00:00:00Z', updated: '2026-01-01T00:00:00Z', deactivated: false, document: documentWithAuthKey(other.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root)
    await a.putBlock(bad.cid, bad.bytes)
    const { createRecord } = await import('../../src/ipns/record.ts')
    const record = await createRecord({ privateKey: id.root, value: bad.cid, sequence: 0n, validUntilMs: now() + HOUR_MS })
    await a.putRecord(parseDid(id.did), record.bytes)
    const result = await resolver.resolve(id.did)
    expect(result.didResolutionMetadata).toMatchObject({ error: 'invalidDidDocument', reason: 'id_mismatch' })
    expect(result.didDocument).toBeNull()
  })
})
