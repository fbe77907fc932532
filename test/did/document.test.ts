import { describe, expect, it } from 'vitest'
import { InvalidDocumentError } from '../../src/errors.ts'
import { MAX_SERVICES, buildDocument, checkServiceSafe, deactivatedDocument, isEmptyDocument, validateDocument } from '../../src/did/document.ts'
import { seededKey, testIdentity } from '../helpers/fixtures.ts'

describe('DID documents', () => {
  it('builds documents whose references are absolute DID URLs and whose contexts match the key formats', async () => {
    const id = await testIdentity(90)
    const doc = buildDocument({
      did: id.did,
      keys: [
        { fragment: 'auth-1', publicKey: id.auth[0]!.publicKey, purposes: ['authentication'] },
        { fragment: 'sign-1', publicKey: id.auth[1]!.publicKey, purposes: ['assertionMethod'], format: 'JsonWebKey2020' }
      ],
      services: [{ fragment: 'peer', type: 'LibP2PNode', serviceEndpoint: 'https://p.example/12D3KooW' }]
    })
    expect(doc['@context']).toEqual(['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1', 'https://w3id.org/security/suites/jws-2020/v1'])
    expect(doc.authentication).toEqual([`${id.did}#auth-1`])
    expect(doc.assertionMethod).toEqual([`${id.did}#sign-1`])
    expect(doc.service?.[0]?.id).toBe(`${id.did}#peer`)
    expect(validateDocument(doc, id.did)).toEqual(doc)
  })

  it('refuses new services with endpoints unsafe to render, however written, yet still validates documents that carry one', async () => {
    const id = await testIdentity(90)
    for (const serviceEndpoint of ['javascript:alert(1)', ' JAVASCRIPT:alert(1)', 'java\tscript:alert(1)', '\u0001vbscript:x', 'data:text/html,<b>', ['https://ok.example', 'data:,x'], { a: { b: ['javascript:x'] } }]) {
      expect(() => { checkServiceSafe({ fragment: 's', serviceEndpoint }) }, JSON.stringify(serviceEndpoint)).toThrow(expect.objectContaining({ reason: 'unsafe_uri' }))
    }
    for (const serviceEndpoint of ['https://alice.example', 'mailto:alice@example.com', 'ipfs://bafy', { uri: 'https://x.example', note: 'javascript is fine as words' }]) {
      expect(() => { checkServiceSafe({ fragment: 's', serviceEndpoint }) }).not.toThrow()
    }
    // Published history stays resolvable: validation does not apply the rule.
    const old = { '@context': ['https://www.w3.org/ns/did/v1'], id: id.did, service: [{ id: `${id.did}#x`, type: 'LinkedDomains', serviceEndpoint: 'javascript:alert(1)' }] }
    expect(validateDocument(old, id.did)).toEqual(old)
  })

  it('refuses to build an invalid document (duplicate fragment)', async () => {
    const id = await testIdentity(90)
    expect(() => buildDocument({
      did: id.did,
      keys: [{ fragment: 'a', publicKey: id.auth[0]!.publicKey, purposes: ['authentication'] }],
      services: [{ fragment: 'a', type: 'X', serviceEndpoint: 'https://x.example' }]
    })).toThrow(InvalidDocumentError)
  })

  it('limits every list, and nesting inside service endpoints', async () => {
    const id = await testIdentity(90)
    const services = Array.from({ length: MAX_SERVICES + 1 }, (_, i) => ({ fragment: `s${i}`, type: 'X', serviceEndpoint: 'https://x.example' }))
    expect(() => buildDocument({ did: id.did, keys: [], services })).toThrow(expect.objectContaining({ reason: 'too_many_entries' }))
    let deep: Record<string, unknown> = { leaf: 'x' }
    for (let i = 0; i < 10; i++) deep = { inner: deep }
    expect(() => validateDocument({ ...deactivatedDocument(id.did), service: [{ id: `${id.did}#d`, type: 'X', serviceEndpoint: deep }] }, id.did))
      .toThrow(expect.objectContaining({ reason: 'malformed_service' }))
  })

  it('deactivated documents are empty; documents with keys are not', async () => {
    const id = await testIdentity(90)
    expect(isEmptyDocument(deactivatedDocument(id.did))).toBe(true)
    expect(isEmptyDocument(buildDocument({ did: id.did, keys: [{ fragment: 'k', publicKey: (await seededKey(1)).publicKey, purposes: [] }] }))).toBe(false)
  })

  it('refuses values that are not JSON at all', async () => {
    const id = await testIdentity(90)
    const cyclic: Record<string, unknown> = { ...deactivatedDocument(id.did) }
    cyclic.self = cyclic
    expect(() => validateDocument(cyclic, id.did)).toThrow(expect.objectContaining({ reason: 'not_json' }))
    expect(() => validateDocument({ ...deactivatedDocument(id.did), n: 1n }, id.did)).toThrow(expect.objectContaining({ reason: 'not_json' }))
  })
})
