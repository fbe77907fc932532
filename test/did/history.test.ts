import { describe, expect, it } from 'vitest'
import { ForkError, InvalidChainError } from '../../src/errors.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { versionAtTime, walkChain } from '../../src/did/history.ts'
import { createFirstVersion, createNextVersion, signVersionNode, decodeVersionNode } from '../../src/did/version-node.ts'
import { HOUR_MS, T0, buildChain, commitmentsTo, documentWithAuthKey, loaderOf, multikeyOf, seededKey, testIdentity } from '../helpers/fixtures.ts'
import type { DecodedVersionNode } from '../../src/did/version-node.ts'

async function expectRejection (promise: Promise<unknown>, type: new (...args: never[]) => Error, reason: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(type)
  expect((err as { reason: string }).reason).toBe(reason)
}

describe('version chains', () => {
  it('accepts an honest chain and reports the versions that extend a verified head', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 5)
    const name = parseDid(id.did)
    const decision = await walkChain(chain[4]!.cid, loaderOf(chain), name, { known: { cid: chain[1]!.cid, version: 2 } })
    expect(decision.kind).toBe('extends')
    if (decision.kind === 'extends') expect(decision.nodes.map(n => n.node.version)).toEqual([5, 4, 3])
    expect((await walkChain(chain[1]!.cid, loaderOf(chain), name, { known: { cid: chain[1]!.cid, version: 2 } })).kind).toBe('same')
    expect((await walkChain(chain[0]!.cid, loaderOf(chain), name, { known: { cid: chain[1]!.cid, version: 2 } })).kind).toBe('older')
  })

  it('rejects, as a fork of the verified chain, a version signed with the stolen root key alone', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 3)
    const name = parseDid(id.did)
    // The thief holds the root key only: it can sign a version, but the root key is not an update key.
    const thiefKey = await seededKey(200)
    const forged = await createNextVersion(chain[2]!, { document: documentWithAuthKey(id.did, thiefKey), updateKeys: [multikeyOf(thiefKey)] }, id.root, T0 + 10 * HOUR_MS)
    const known = { cid: chain[2]!.cid, version: 3 }
    const err = await walkChain(forged.cid, loaderOf([...chain, forged]), name, { known }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ForkError)
    expect((err as ForkError).reason).toBe('signer_not_authorised')
    expect((err as ForkError).knownHead).toBe(chain[2]!.cid.toString())
    expect((err as ForkError).offeredHead).toBe(forged.cid.toString())
    // Without a verified chain the same forgery is still an invalid chain.
    await expectRejection(walkChain(forged.cid, loaderOf([...chain, forged]), name), InvalidChainError, 'signer_not_authorised')
  })

  it('rejects, as a fork, a whole new chain built with the stolen root key; the owner\'s next version is accepted', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 3)
    const name = parseDid(id.did)
    const thiefKey = await seededKey(200)
    const thiefUpdate = multikeyOf(thiefKey)
    const forgedGenesis = await createFirstVersion({ document: documentWithAuthKey(id.did, thiefKey), updateKeys: [thiefUpdate] }, id.root, T0)
    const forged: DecodedVersionNode[] = [forgedGenesis]
    for (let i = 1; i < 5; i++) {
      forged.push(await createNextVersion(forged[i - 1]!, { document: documentWithAuthKey(id.did, thiefKey), updateKeys: [thiefUpdate] }, thiefKey, T0 + i * HOUR_MS))
    }
    const known = { cid: chain[2]!.cid, version: 3 }
    const err = await walkChain(forged[4]!.cid, loaderOf([...chain, ...forged]), name, { known }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ForkError)
    expect((err as ForkError).reason).toBe('fork')

    const next = await createNextVersion(chain[2]!, { document: documentWithAuthKey(id.did, id.auth[2]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, T0 + 20 * HOUR_MS)
    const decision = await walkChain(next.cid, loaderOf([...chain, next]), name, { known })
    expect(decision.kind).toBe('extends')
  })

  it('pre-rotation: only a committed key signs, and names only committed keys; a thief of the current update key can do nothing', async () => {
    const id = await testIdentity()
    const name = parseDid(id.did)
    const first = await createFirstVersion({
      document: documentWithAuthKey(id.did, id.auth[0]!),
      updateKeys: [multikeyOf(id.update[0]!)],
      nextUpdateKeyHashes: await commitmentsTo(id.update[1]!)
    }, id.root, T0)
    const honest = await createNextVersion(first, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[1]!)] }, id.update[1]!, T0 + HOUR_MS)
    expect((await walkChain(honest.cid, loaderOf([first, honest]), name)).kind).toBe('extends')

    const broken = await createNextVersion(first, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[2]!)] }, id.update[1]!, T0 + HOUR_MS)
    await expectRejection(walkChain(broken.cid, loaderOf([first, broken]), name), InvalidChainError, 'prerotation_broken')

    // The current update key is not among the commitments: it can neither update nor deactivate.
    const thief = await createNextVersion(first, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[1]!)] }, id.update[0]!, T0 + HOUR_MS)
    await expectRejection(walkChain(thief.cid, loaderOf([first, thief]), name), InvalidChainError, 'signer_not_committed')
    const thiefDeactivates = await createNextVersion(first, { deactivate: true }, id.update[0]!, T0 + HOUR_MS)
    await expectRejection(walkChain(thiefDeactivates.cid, loaderOf([first, thiefDeactivates]), name), InvalidChainError, 'signer_not_committed')
  })

  it('refuses the root key as an update key, plainly or by commitment', async () => {
    const id = await testIdentity()
    const name = parseDid(id.did)
    const plain = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.root)] }, id.root, T0)
    await expectRejection(walkChain(plain.cid, loaderOf([plain]), name), InvalidChainError, 'root_key_as_update_key')
    const committed = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)], nextUpdateKeyHashes: await commitmentsTo(id.root) }, id.root, T0)
    await expectRejection(walkChain(committed.cid, loaderOf([committed]), name), InvalidChainError, 'root_key_as_update_key')
  })

  it('an older head is "older" only when it is an ancestor of the verified head; another history is a fork', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 4)
    const name = parseDid(id.did)
    const known = { cid: chain[3]!.cid, version: 4 }
    expect((await walkChain(chain[1]!.cid, loaderOf(chain), name, { known })).kind).toBe('older')
    // A new first version, signed with the stolen root key: lower than the verified head, but not in its past.
    const stolenGenesis = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[2]!), updateKeys: [multikeyOf(id.update[2]!)] }, id.root, T0)
    const err = await walkChain(stolenGenesis.cid, loaderOf([...chain, stolenGenesis]), name, { known }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ForkError)
    expect((err as ForkError).reason).toBe('fork')
  })

  it('against a verified head, a newer version with a bad document is refused as a fork too', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 2)
    const other = await testIdentity(50)
    const bad = await signVersionNode({
      version: 3, prev: chain[1]!.cid, created: chain[1]!.node.created, updated: '2026-01-02T00:00:00Z',
      deactivated: false, document: documentWithAuthKey(other.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)]
    }, id.update[0]!)
    const err = await walkChain(bad.cid, loaderOf([...chain, bad]), parseDid(id.did), { known: { cid: chain[1]!.cid, version: 2 } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ForkError)
    expect((err as ForkError).reason).toBe('id_mismatch')
  })

  it('rejects a first version not signed by the root key', async () => {
    const id = await testIdentity()
    const first = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, T0)
    await expectRejection(walkChain(first.cid, loaderOf([first]), parseDid(id.did)), InvalidChainError, 'genesis_not_signed_by_root')
  })

  it('rejects versions after deactivation, and versions that go back', async () => {
    const id = await testIdentity()
    const name = parseDid(id.did)
    const chain = await buildChain(id, 2)
    const deactivated = await createNextVersion(chain[1]!, { deactivate: true }, id.update[0]!, T0 + 5 * HOUR_MS)
    expect(deactivated.node.deactivated).toBe(true)
    expect((await walkChain(deactivated.cid, loaderOf([...chain, deactivated]), name)).kind).toBe('extends')
    // Nobody can sign after deactivation with an update key from before it: the deactivated version lists none.
    const after = await signVersionNode({
      version: 4, prev: deactivated.cid, created: deactivated.node.created, updated: '2026-01-02T00:00:00Z',
      deactivated: false, document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)]
    }, id.update[0]!)
    const afterNode = await decodeVersionNode(after.cid, after.bytes, id.did)
    await expectRejection(walkChain(after.cid, loaderOf([...chain, deactivated, afterNode]), name), InvalidChainError, 'after_deactivation')

    const back = await signVersionNode({
      version: 2, prev: chain[1]!.cid, created: chain[1]!.node.created, updated: '2026-01-02T00:00:00Z',
      deactivated: false, document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)]
    }, id.update[0]!)
    await expectRejection(walkChain(back.cid, loaderOf([...chain, back]), name), InvalidChainError, 'version_goes_back')
  })

  it('refuses chains longer than the depth limit', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 6)
    await expectRejection(walkChain(chain[5]!.cid, loaderOf(chain), parseDid(id.did), { maxDepth: 5 }), InvalidChainError, 'chain_too_long')
  })

  it('finds the version in force at a time', async () => {
    const id = await testIdentity()
    const chain = await buildChain(id, 4)
    const newestFirst = [...chain].reverse()
    expect(versionAtTime(newestFirst, T0 + 2 * HOUR_MS + 1)?.node.version).toBe(3)
    expect(versionAtTime(newestFirst, T0)?.node.version).toBe(1)
    expect(versionAtTime(newestFirst, T0 - 1)).toBeUndefined()
  })
})
