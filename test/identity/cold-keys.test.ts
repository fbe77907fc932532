/**
 * Cold update keys on real embedded nodes: A holds the identity, C resolves it. Once the update keys are cold,
 * the daemon's disk holds none, a change needs the key that signs next (an older one is refused before
 * anything is signed), each version commits to a next key whose private half the daemon never sees, and the
 * history still verifies from the root key.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { walkChain } from '../../src/did/history.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { ed25519ToMultikey, updateKeyCommitment } from '../../src/did/keys.ts'
import { Identities } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N, sealKey } from '../../src/identity/keystore.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { eventually, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

const PASS = 'a cold enough passphrase'
const seal = { logN: MIN_SCRYPT_LOG_N }
let a: EmbeddedNode
let c: EmbeddedNode
let dataDir: string
let identities: Identities
let resolver: Resolver

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  dataDir = mkdtempSync(join(tmpdir(), 'ipidd-cold-'))
  identities = new Identities({ dataDir, backend: a, seal })
  resolver = new Resolver({ backend: c, deadlineMs: 5000 })
})
const dirs: string[] = []
afterAll(async () => {
  resolver.stop()
  await stopAll([a, c])
  for (const dir of [dataDir, ...dirs]) rmSync(dir, { recursive: true, force: true })
})

async function newSealedKey (): Promise<{ multikey: string, file: unknown }> {
  const key = await generateKeyPair('Ed25519')
  return { multikey: ed25519ToMultikey(key.publicKey), file: await sealKey(key, 'update', PASS, seal) }
}

describe('cold update keys', () => {
  it('move off the daemon; changes then need the key that signs next, and commit to a next key the daemon never holds', async () => {
    const alice = await identities.create({ name: 'alice', passphrase: PASS })
    const keyDir = join(dataDir, 'identities', 'alice', 'keys')
    await expect(identities.exportUpdateKeys('alice', 'not the passphrase')).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    const exported = await identities.exportUpdateKeys('alice', PASS)
    expect(exported).toMatchObject({ format: 'ipidd-update-keys/1', name: 'alice', did: alice.did, keys: [{ role: 'update' }] })
    const signer = exported.keys[0]!
    // Nothing moves until the export is confirmed by its public keys.
    await expect(identities.dropUpdateKeys('alice', PASS, [(await newSealedKey()).multikey])).rejects.toMatchObject({ reason: 'cold_keys_mismatch' })
    expect(readdirSync(keyDir).filter(f => f.startsWith('update-'))).toHaveLength(2)
    const cold = await identities.dropUpdateKeys('alice', PASS, [signer.publicKey])
    expect(cold.keys).toMatchObject({ cold: { signer: signer.publicKey, prerotation: true } })
    expect(cold.keys.update).toBeUndefined()
    expect(readdirSync(keyDir).filter(f => f.startsWith('update-'))).toEqual([])
    await expect(identities.exportUpdateKeys('alice', PASS)).rejects.toMatchObject({ reason: 'cold' })

    // Refused before anything is signed: no key, another key, no next key, the signer again as next.
    await expect(identities.change('alice', PASS, { kind: 'rotate-key' })).rejects.toMatchObject({ reason: 'update_key_required' })
    const other = await newSealedKey()
    await expect(identities.change('alice', PASS, { kind: 'rotate-key' }, { updateKey: { signer: other.file } })).rejects.toMatchObject({ reason: 'wrong_update_key' })
    await expect(identities.change('alice', PASS, { kind: 'rotate-key' }, { updateKey: { signer } })).rejects.toMatchObject({ reason: 'next_key_required' })
    await expect(identities.change('alice', PASS, { kind: 'rotate-key' }, { updateKey: { signer, next: signer.publicKey } })).rejects.toMatchObject({ reason: 'bad_next_key' })
    await expect(identities.change('alice', 'not the passphrase', { kind: 'rotate-key' }, { updateKey: { signer, next: other.multikey } })).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    expect(identities.get('alice').head).toBe(alice.versionId)

    const next = await newSealedKey()
    const rotated = await identities.change('alice', PASS, { kind: 'rotate-key' }, { updateKey: { signer, next: next.multikey } })
    expect(rotated).toMatchObject({ version: 2, added: ['auth-2'], removed: ['auth-1'] })
    expect(identities.get('alice').keys.cold?.signer).toBe(next.multikey)
    // The spent signer cannot sign again; the new one can, and deactivation needs no next key.
    await expect(identities.change('alice', PASS, { kind: 'add-key' }, { updateKey: { signer, next: other.multikey } })).rejects.toMatchObject({ reason: 'wrong_update_key' })
    const after = await newSealedKey()
    const added = await identities.change('alice', PASS, { kind: 'add-key' }, { updateKey: { signer: next.file, next: after.multikey } })
    expect(added.version).toBe(3)

    // Resolved elsewhere, the chain verifies from the root key, each version committing to the caller's next key.
    const resolved = await eventually(async () => {
      const result = await resolver.resolve(alice.did, { noCache: true })
      return result.didDocumentMetadata.versionId === added.versionId ? result : undefined
    })
    expect(resolved.didDocument?.authentication).toEqual([`${alice.did}#auth-2`, `${alice.did}#auth-3`])
    const decision = await walkChain(CID.parse(added.versionId), async cid => a.getBlock(cid), parseDid(alice.did))
    expect(decision.kind).toBe('extends')
    const nodes = decision.kind === 'extends' ? decision.nodes : []
    expect(nodes[1]!.node.nextUpdateKeyHashes).toEqual([await updateKeyCommitment(next.multikey)])
    expect(nodes[0]!.node.nextUpdateKeyHashes).toEqual([await updateKeyCommitment(after.multikey)])
    expect(nodes[0]!.node.signer).toBe(next.multikey)

    // The daemon's disk never held the cold keys: no file names their public keys as a key file would.
    for (const file of readdirSync(keyDir)) {
      const text = readFileSync(join(keyDir, file), 'utf8')
      for (const key of [signer.publicKey, next.multikey, after.multikey]) expect(text).not.toContain(key)
    }

    // A backup carries no update key; restored elsewhere, the identity is still cold there.
    const backup = JSON.parse(identities.exportBackup('alice')) as { keys: Record<string, unknown>, identity: unknown }
    expect(Object.keys(backup.keys).filter(f => f.startsWith('update-'))).toEqual([])
    dirs.push(mkdtempSync(join(tmpdir(), 'ipidd-cold-')))
    const elsewhere = new Identities({ dataDir: dirs[0]!, backend: a, seal })
    // A backup naming a key file outside its keys folder is refused.
    const hostile = structuredClone(backup) as { identity: { keys: { auth: Array<{ file: string }> } } }
    hostile.identity.keys.auth[0]!.file = '../../../outside.key'
    await expect(elsewhere.importBackup(JSON.stringify(hostile), PASS)).rejects.toMatchObject({ reason: 'bad_backup' })
    await elsewhere.importBackup(JSON.stringify(backup), PASS)
    await expect(elsewhere.change('alice', PASS, { kind: 'add-key' })).rejects.toMatchObject({ reason: 'update_key_required' })

    const gone = await identities.change('alice', PASS, { kind: 'deactivate' }, { updateKey: { signer: after.file } })
    expect(gone).toMatchObject({ version: 4, deactivated: true })
    expect(existsSync(join(keyDir, 'root.key'))).toBe(true)
  })

  it('without pre-rotation: the one update key signs every change, and no next key is asked for', async () => {
    const bob = await identities.create({ name: 'bob', passphrase: PASS, prerotation: false })
    const { keys: [signer] } = await identities.exportUpdateKeys('bob', PASS)
    await identities.dropUpdateKeys('bob', PASS, [signer!.publicKey])
    const first = await identities.change('bob', PASS, { kind: 'add-key' }, { updateKey: { signer } })
    const second = await identities.change('bob', PASS, { kind: 'rotate-key' }, { updateKey: { signer } })
    expect([first.version, second.version]).toEqual([2, 3])
    expect(identities.get('bob').keys.cold).toMatchObject({ signer: signer!.publicKey, prerotation: false })
    expect(bob.did).toMatch(/^did:ipid:/)
  })
})
