/**
 * verifyJwt (the app entry, `ipidd/resolver`) against a real resolver over two embedded nodes on 127.0.0.1:
 * what it verifies, and each reason it refuses with.
 */
import { createJWT, EdDSASigner } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JwtVerificationError, getResolver, verifyJwt } from '../../src/client/index.ts'
import { buildDocument } from '../../src/did/document.ts'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { HOUR_MS, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import type { JwtVerificationReason } from '../../src/client/index.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'

const AUDIENCE = 'https://app.example'
let a: EmbeddedNode
let c: EmbeddedNode
let resolver: Resolver
/** Two authentication keys: #auth-1 (auth[0]) and #auth-2 (auth[1]). */
let alice: TestIdentity
let aliceHead: DecodedVersionNode
/** Deactivated at version 2. */
let bob: TestIdentity

async function jwtOf (id: TestIdentity, keyIndex: number, header: { kid?: string } = {}, payload: Record<string, unknown> = { aud: AUDIENCE }): Promise<string> {
  return createJWT(payload, { issuer: id.did, signer: EdDSASigner(id.auth[keyIndex]!.raw) }, { alg: 'EdDSA', ...header })
}

async function refusal (promise: Promise<unknown>): Promise<JwtVerificationError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(JwtVerificationError)
  return err as JwtVerificationError
}

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  resolver = new Resolver({ backend: c, deadlineMs: 3000 })
  const start = Date.now() - 2 * HOUR_MS
  alice = await testIdentity(6100)
  const document = buildDocument({
    did: alice.did,
    keys: [
      { fragment: 'auth-1', publicKey: alice.auth[0]!.publicKey, purposes: ['authentication'] },
      { fragment: 'auth-2', publicKey: alice.auth[1]!.publicKey, purposes: ['authentication', 'assertionMethod'] }
    ]
  })
  aliceHead = await createFirstVersion({ document, updateKeys: [multikeyOf(alice.update[0]!)] }, alice.root, start)
  await publishVersion(a, alice.root, aliceHead)

  bob = await testIdentity(6200)
  const bobFirst = await createFirstVersion({ document: buildDocument({ did: bob.did, keys: [{ fragment: 'auth-1', publicKey: bob.auth[0]!.publicKey, purposes: ['authentication'] }] }), updateKeys: [multikeyOf(bob.update[0]!)] }, bob.root, start)
  await publishVersion(a, bob.root, bobFirst)
  await publishVersion(a, bob.root, await createNextVersion(bobFirst, { deactivate: true }, bob.update[0]!, start + HOUR_MS))
})
afterAll(async () => {
  resolver.stop()
  await stopAll([a, c])
})

describe('verifyJwt', () => {
  it('verifies a JWT over an ipid resolver, naming the issuer, the key and the document version', async () => {
    const jwt = await jwtOf(alice, 1, { kid: `${alice.did}#auth-2` }, { aud: AUDIENCE, post: 'hello' })
    const verified = await verifyJwt(jwt, { audience: AUDIENCE, resolver, proofPurpose: 'authentication' })
    expect(verified).toMatchObject({ issuer: alice.did, signer: `${alice.did}#auth-2`, versionId: aliceHead.cid.toString(), payload: { post: 'hello' } })
    expect(verified.documentMetadata).toMatchObject({ versionId: aliceHead.cid.toString(), deactivated: false, canonicalId: alice.did })
  })

  it('takes a did-resolver Resolver as it is, and a relative kid against the issuer', async () => {
    const jwt = await jwtOf(alice, 0, { kid: '#auth-1' })
    const verified = await verifyJwt(jwt, { audience: AUDIENCE, resolver: new DidResolver(getResolver(resolver)) })
    expect(verified.signer).toBe(`${alice.did}#auth-1`)
  })

  it('verifies without a kid (any key of the relationship)', async () => {
    expect((await verifyJwt(await jwtOf(alice, 1), { audience: AUDIENCE, resolver })).signer).toBe(`${alice.did}#auth-2`)
  })

  it('refuses a kid that names another key than the one that verified (did-jwt alone accepts it)', async () => {
    const jwt = await jwtOf(alice, 1, { kid: `${alice.did}#auth-1` })
    const err = await refusal(verifyJwt(jwt, { audience: AUDIENCE, resolver }))
    expect(err.reason).toBe('kid_mismatch')
    expect(err.message).toContain('#auth-1')
  })

  it('says a deactivated issuer is deactivated, with or without a proof purpose', async () => {
    for (const proofPurpose of ['authentication', undefined] as const) {
      const err = await refusal(verifyJwt(await jwtOf(bob, 0), { audience: AUDIENCE, resolver, ...(proofPurpose === undefined ? {} : { proofPurpose }) }))
      expect(err.reason).toBe('deactivated')
      expect(err.message).toMatch(/deactivated/)
    }
  })

  it('refuses with stable reasons: signature, audience, relationship, malformed, unresolvable issuer', async () => {
    const cases: Array<[JwtVerificationReason, Promise<unknown>]> = [
      ['invalid_signature', verifyJwt(await jwtOf(alice, 2), { audience: AUDIENCE, resolver })],
      ['invalid_audience', verifyJwt(await jwtOf(alice, 1), { audience: 'https://other.example', resolver })],
      ['no_suitable_keys', verifyJwt(await jwtOf(alice, 1), { audience: AUDIENCE, resolver, proofPurpose: 'capabilityInvocation' })],
      ['invalid_jwt', verifyJwt('not.a.jwt', { audience: AUDIENCE, resolver })]
    ]
    for (const [reason, promise] of cases) expect((await refusal(promise)).reason).toBe(reason)

    const stranger = await testIdentity(6300)
    const unknown = await refusal(verifyJwt(await jwtOf(stranger, 0), { audience: AUDIENCE, resolver }))
    expect(unknown.reason).toBe('resolver_error')
    expect(unknown.resolutionError).toBe('notFound')
  })
})
