/**
 * Identity operations end to end on two real embedded nodes: A holds the identity, C resolves it.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { walkChain } from '../../src/did/history.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { Identities } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { eventually, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import { CID } from 'multiformats/cid'

const PASS = 'a long enough passphrase'
let a: EmbeddedNode
let c: EmbeddedNode
let identities: Identities
let resolver: Resolver

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  identities = new Identities({ dataDir: mkdtempSync(join(tmpdir(), 'ipidd-identities-')), backend: a, seal: { logN: MIN_SCRYPT_LOG_N } })
  resolver = new Resolver({ backend: c, deadlineMs: 5000 })
})
afterAll(async () => {
  resolver.stop()
  await stopAll([a, c])
})

async function resolvedVersion (did: string, versionId: string) {
  return eventually(async () => {
    const result = await resolver.resolve(did, { noCache: true })
    return result.didDocumentMetadata.versionId === versionId ? result : undefined
  })
}

describe('identities', () => {
  it('create → resolve elsewhere; rotate, add a service, remove a key; each change a verified version; deactivate', async () => {
    const created = await identities.create({ name: 'alice', passphrase: PASS, services: [{ fragment: 'home', type: 'LinkedDomains', serviceEndpoint: 'https://alice.example' }] })
    expect(created.did).toMatch(/^did:ipid:k51/)
    const v1 = await resolvedVersion(created.did, created.versionId)
    expect(v1.didDocument?.authentication).toEqual([`${created.did}#auth-1`])
    expect(v1.didDocument?.service?.[0]?.serviceEndpoint).toBe('https://alice.example')

    const rotated = await identities.change('alice', PASS, { kind: 'rotate-key', purpose: 'authentication' })
    expect(rotated).toMatchObject({ version: 2, previousVersionId: created.versionId, added: ['auth-2'], removed: ['auth-1'] })
    const v2 = await resolvedVersion(created.did, rotated.versionId)
    expect(v2.didDocument?.authentication).toEqual([`${created.did}#auth-2`])
    expect(v2.didDocument?.verificationMethod?.map(m => m.id)).toEqual([`${created.did}#auth-2`])

    const withService = await identities.change('alice', PASS, { kind: 'add-service', service: { fragment: 'inbox', type: 'ActivityPubInbox', serviceEndpoint: 'https://social.example/alice/inbox' } })
    const added = await identities.change('alice', PASS, { kind: 'add-key', purposes: ['assertionMethod'] })
    const removed = await identities.change('alice', PASS, { kind: 'remove-key', fragment: 'auth-2' })
    const v5 = await resolvedVersion(created.did, removed.versionId)
    expect(v5.didDocument?.service?.map(s => s.id)).toEqual([`${created.did}#home`, `${created.did}#inbox`])
    expect(v5.didDocument?.authentication).toBeUndefined()
    expect(v5.didDocument?.assertionMethod).toEqual([`${created.did}#${added.added[0]!}`])
    expect(withService.version).toBe(3)

    // The whole history verifies from the root key, with pre-rotation kept at every step.
    const decision = await walkChain(CID.parse(removed.versionId), async cid => a.getBlock(cid), parseDid(created.did))
    expect(decision.kind === 'extends' && decision.nodes.map(n => n.node.version)).toEqual([5, 4, 3, 2, 1])
    expect(decision.kind === 'extends' && decision.nodes.every(n => n.node.nextUpdateKeyHashes?.length === 1)).toBe(true)

    const gone = await identities.change('alice', PASS, { kind: 'deactivate' })
    const deactivated = await resolvedVersion(created.did, gone.versionId)
    expect(deactivated.didDocumentMetadata.deactivated).toBe(true)
    await expect(identities.change('alice', PASS, { kind: 'add-key' })).rejects.toMatchObject({ reason: 'deactivated' })
  })

  it('refuses a wrong passphrase and unknown names, and changes nothing', async () => {
    const bob = await identities.create({ name: 'bob', passphrase: PASS })
    await expect(identities.change('bob', 'not the passphrase', { kind: 'rotate-key' })).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    expect(identities.get('bob').head).toBe(bob.versionId)
    await expect(identities.change('nobody', PASS, { kind: 'rotate-key' })).rejects.toMatchObject({ reason: 'unknown_identity' })
    await expect(identities.create({ name: 'Bad Name', passphrase: PASS })).rejects.toMatchObject({ reason: 'bad_name' })
    await expect(identities.create({ name: 'bob', passphrase: PASS })).rejects.toMatchObject({ reason: 'exists' })
    // A PeerId service asked of a daemon without a libp2p node; endpoints unsafe to render, at create and in a change.
    await expect(identities.create({ name: 'carl', passphrase: PASS, peerService: true })).rejects.toMatchObject({ reason: 'no_libp2p_node' })
    const unsafe = { fragment: 'site', type: 'LinkedDomains', serviceEndpoint: 'javascript:alert(1)' }
    await expect(identities.create({ name: 'carl', passphrase: PASS, services: [unsafe] })).rejects.toMatchObject({ reason: 'unsafe_uri' })
    await expect(identities.change('bob', PASS, { kind: 'add-service', service: unsafe })).rejects.toMatchObject({ reason: 'unsafe_uri' })
    expect(identities.list().map(i => i.name)).not.toContain('carl')
    expect(identities.get('bob').head).toBe(bob.versionId)
  })

  it('names the daemon\'s PeerId as a service when asked (only then), and republishes with an injected clock once a seventh of the validity has passed', async () => {
    let nowMs = Date.now()
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-identities-'))
    const held = new Identities({ dataDir, backend: a, seal: { logN: MIN_SCRYPT_LOG_N }, clock: () => nowMs, peerId: a.peerId.toString() })
    const dave = await held.create({ name: 'dave', passphrase: PASS, peerService: true })
    const resolved = await resolvedVersion(dave.did, dave.versionId)
    expect(resolved.didDocument?.service).toEqual([{ id: `${dave.did}#libp2p`, type: 'LibP2PNode', serviceEndpoint: { peerId: a.peerId.toString() } }])

    const { validateRecord, DEFAULT_RECORD_VALIDITY_MS } = await import('../../src/ipns/record.ts')
    const current = async () => validateRecord(parseDid(dave.did), await a.getRecord(parseDid(dave.did)), nowMs)
    const first = await current()
    nowMs += DEFAULT_RECORD_VALIDITY_MS * 0.1
    expect(await held.republish()).toBe(0)
    expect((await current()).sequence).toBe(first.sequence)
    nowMs += DEFAULT_RECORD_VALIDITY_MS * 0.1
    expect(await held.republish()).toBe(1)
    const renewed = await current()
    expect(renewed.sequence).toBe(first.sequence + 1n)
    expect(renewed.validUntilMs).toBeGreaterThan(first.validUntilMs)
    expect(renewed.value).toBe(first.value)

    // Not asked: the document names no PeerId, so identities of one daemon are not linked by it.
    const erin = await held.create({ name: 'erin', passphrase: PASS })
    expect(held.get('erin').services).toEqual([])
    expect((await resolvedVersion(erin.did, erin.versionId)).didDocument?.service).toBeUndefined()
  })

  it('exports an encrypted backup that imports elsewhere only with the passphrase, and keeps working there', async () => {
    const carol = await identities.create({ name: 'carol', passphrase: PASS })
    const backup = identities.exportBackup('carol')
    expect(backup).not.toContain(PASS)
    const elsewhere = new Identities({ dataDir: mkdtempSync(join(tmpdir(), 'ipidd-identities-')), backend: a, seal: { logN: MIN_SCRYPT_LOG_N } })
    await expect(elsewhere.importBackup(backup, 'wrong passphrase!')).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    expect(await elsewhere.importBackup(backup, PASS)).toMatchObject({ did: carol.did, versionId: carol.versionId })
    const changed = await elsewhere.change('carol', PASS, { kind: 'rotate-key' })
    expect((await resolvedVersion(carol.did, changed.versionId)).didDocumentMetadata.versionId).toBe(changed.versionId)
  })
})
