/**
 * The audit log of a version chain: what each version changed in keys, services and update keys.
 */
import { describe, expect, it } from 'vitest'
import { describeHistory } from '../../src/did/changes.ts'
import { buildDocument } from '../../src/did/document.ts'
import { createFirstVersion, createNextVersion } from '../../src/did/version-node.ts'
import { HOUR_MS, T0, multikeyOf, testIdentity } from '../helpers/fixtures.ts'

describe('describeHistory', () => {
  it('names, per version and newest first, the keys and services added, removed, rotated and repurposed, and the signer', async () => {
    const id = await testIdentity(5100)
    const key = (fragment: string, n: number, purposes: Array<'authentication' | 'assertionMethod' | 'keyAgreement'>) =>
      ({ fragment, publicKey: id.auth[n]!.publicKey, purposes })
    const updateKeys = [multikeyOf(id.update[0]!)]
    const v1 = await createFirstVersion({ document: buildDocument({ did: id.did, keys: [key('auth-1', 0, ['authentication'])] }), updateKeys }, id.root, T0)
    const v2 = await createNextVersion(v1, {
      document: buildDocument({
        did: id.did,
        keys: [key('auth-1', 1, ['authentication']), key('sign-1', 2, ['assertionMethod'])],
        services: [{ fragment: 'inbox', type: 'SocialInbox', serviceEndpoint: 'https://example.com/inbox' }]
      }),
      updateKeys
    }, id.update[0]!, T0 + HOUR_MS)
    const v3 = await createNextVersion(v2, {
      document: buildDocument({
        did: id.did,
        keys: [key('auth-1', 1, ['authentication', 'assertionMethod'])],
        services: [{ fragment: 'inbox', type: 'SocialInbox', serviceEndpoint: 'https://example.org/inbox' }]
      }),
      updateKeys: [multikeyOf(id.update[1]!)]
    }, id.update[0]!, T0 + 2 * HOUR_MS)

    const [h3, h2, h1] = describeHistory([v3, v2, v1])
    expect(h1).toMatchObject({ version: 1, versionId: v1.cid.toString(), signer: multikeyOf(id.root), deactivated: false })
    expect(h1!.changes).toMatchObject({ keysRemoved: [], servicesAdded: [], updateKeysChanged: true })
    expect(h1!.changes.keysAdded).toEqual([{ id: `${id.did}#auth-1`, purposes: ['authentication'], type: 'Multikey', publicKey: multikeyOf(id.auth[0]!) }])

    expect(h2!.signer).toBe(multikeyOf(id.update[0]!))
    expect(h2!.changes.keysAdded.map(k => k.id)).toEqual([`${id.did}#sign-1`])
    expect(h2!.changes.keysRotated).toEqual([{ id: `${id.did}#auth-1`, purposes: ['authentication'], type: 'Multikey', publicKey: multikeyOf(id.auth[1]!) }])
    expect(h2!.changes.servicesAdded).toEqual([`${id.did}#inbox`])
    expect(h2!.changes.updateKeysChanged).toBe(false)

    expect(h3!.changes.keysRemoved.map(k => k.id)).toEqual([`${id.did}#sign-1`])
    expect(h3!.changes.keysRotated).toEqual([])
    expect(h3!.changes.keysRepurposed).toEqual([{ id: `${id.did}#auth-1`, purposes: ['assertionMethod', 'authentication'], type: 'Multikey', publicKey: multikeyOf(id.auth[1]!) }])
    expect(h3!.changes.servicesChanged).toEqual([`${id.did}#inbox`])
    expect(h3!.changes.updateKeysChanged).toBe(true)
  })
})
