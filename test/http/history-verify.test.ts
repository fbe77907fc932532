/**
 * `GET /1.0/history/{did}` and `POST /1.0/verify` over real HTTP, with a real resolver over two embedded nodes
 * on 127.0.0.1.
 */
import { createJWT, EdDSASigner } from 'did-jwt'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { historyRouter, MAX_HISTORY_PAGE } from '../../src/http/history.ts'
import { verifyRouter } from '../../src/http/verify.ts'
import { getResolver } from '../../src/resolver/driver.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { buildChain, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

let a: EmbeddedNode
let c: EmbeddedNode
let resolver: Resolver
let server: Server
let url: string
let id: TestIdentity
let chain: DecodedVersionNode[]

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  resolver = new Resolver({ backend: c, deadlineMs: 5000 })
  id = await testIdentity(5200)
  chain = await buildChain(id, 7, Date.now() - 10 * 3_600_000)
  for (const version of chain) await publishVersion(a, id.root, version)
  const app = express()
  app.use(historyRouter({ history: async (did, options) => resolver.history(did, options), statusOf: r => r.didResolutionMetadata.error === 'invalidDid' ? 400 : 404 }))
  app.use(verifyRouter({ registry: getResolver(resolver) }))
  server = app.listen(0, '127.0.0.1')
  await new Promise(resolve => server.once('listening', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  resolver.stop()
  await new Promise(resolve => server.close(resolve))
  await stopAll([a, c])
})

interface HistoryPage { id: string, versions: Array<{ version: number, versionId: string, signer: string, changes: { keysRotated: Array<{ publicKey: string }> } }>, nextBefore?: number }

describe('history', () => {
  it('lists the verified chain newest first, with signers and key changes, in pages', async () => {
    const first = await (await fetch(`${url}/1.0/history/${encodeURIComponent(id.did)}?limit=3`)).json() as HistoryPage
    expect(first.id).toBe(id.did)
    expect(first.versions.map(v => v.version)).toEqual([7, 6, 5])
    expect(first.versions[0]!.versionId).toBe(chain[6]!.cid.toString())
    expect(first.versions[0]!.signer).toBe(multikeyOf(id.update[0]!))
    expect(first.versions[0]!.changes.keysRotated[0]!.publicKey).toBe(multikeyOf(id.auth[6 % id.auth.length]!))
    expect(first.nextBefore).toBe(5)
    const rest = await (await fetch(`${url}/1.0/history/${encodeURIComponent(id.did)}?limit=10&before=${first.nextBefore!}`)).json() as HistoryPage
    expect(rest.versions.map(v => v.version)).toEqual([4, 3, 2, 1])
    expect(rest.versions.at(-1)!.signer).toBe(multikeyOf(id.root))
    expect(rest.nextBefore).toBeUndefined()
  })

  it('answers bad paging with 400 and an unresolvable DID with its status, as problems', async () => {
    const bad = await fetch(`${url}/1.0/history/${encodeURIComponent(id.did)}?limit=${MAX_HISTORY_PAGE + 1}`)
    expect(bad.status).toBe(400)
    expect(bad.headers.get('content-type')).toMatch(/problem\+json/)
    const invalid = await fetch(`${url}/1.0/history/${encodeURIComponent('did:ipid:nope')}`)
    expect(invalid.status).toBe(400)
    expect((await invalid.json() as { reason: string }).reason).toBeTypeOf('string')
  })
})

describe('verify', () => {
  const post = async (body: unknown): Promise<Response> => fetch(`${url}/1.0/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  it('verifies a JWT signed by the current authentication key, naming the key and the version', async () => {
    const current = id.auth[6 % id.auth.length]!
    const jwt = await createJWT({ aud: 'did:example:app', post: 'hello' }, { issuer: id.did, signer: EdDSASigner(current.raw) }, { alg: 'EdDSA' })
    const response = await post({ jwt, audience: 'did:example:app', proofPurpose: 'authentication' })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ verified: true, issuer: id.did, signer: `${id.did}#auth-1`, versionId: chain[6]!.cid.toString(), payload: { post: 'hello' } })
  })

  it('refuses a JWT signed by a rotated-out key, a wrong audience and a malformed body', async () => {
    const old = id.auth[1]!
    const stale = await createJWT({ aud: 'did:example:app' }, { issuer: id.did, signer: EdDSASigner(old.raw) }, { alg: 'EdDSA' })
    const refused = await post({ jwt: stale, audience: 'did:example:app' })
    expect(refused.status).toBe(422)
    expect(await refused.json()).toMatchObject({ verified: false, reason: 'invalid_signature' })

    const current = id.auth[6 % id.auth.length]!
    const jwt = await createJWT({ aud: 'did:example:app' }, { issuer: id.did, signer: EdDSASigner(current.raw) }, { alg: 'EdDSA' })
    const wrongAudience = await post({ jwt, audience: 'did:example:other' })
    expect(wrongAudience.status).toBe(422)
    const body = await wrongAudience.json() as { verified: boolean, detail: string }
    expect(body.verified).toBe(false)
    expect(body.detail).toMatch(/audience/)

    expect((await post({ token: jwt })).status).toBe(400)
    expect((await post({ jwt, proofPurpose: 'everything' })).status).toBe(400)
  })
})
