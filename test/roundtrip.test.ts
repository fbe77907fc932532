/**
 * Acceptance: create identity key → document → version node → IPNS record → validate → decode, for one
 * version and for a chain of 100.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { didFromPublicKey, parseDid } from '../src/did/identifier.ts'
import { walkChain } from '../src/did/history.ts'
import { ed25519ToMultikey } from '../src/did/keys.ts'
import { createFirstVersion, createNextVersion, decodeVersionNode } from '../src/did/version-node.ts'
import { createRecord, recordValueCid, validateRecord } from '../src/ipns/record.ts'
import { DAY_MS, HOUR_MS, T0, documentWithAuthKey, loaderOf } from './helpers/fixtures.ts'
import type { DecodedVersionNode } from '../src/did/version-node.ts'

describe('round trip', () => {
  it('one version: fresh keys → document → version node → record → validate → decode', async () => {
    const root = await generateKeyPair('Ed25519')
    const update = await generateKeyPair('Ed25519')
    const auth = await generateKeyPair('Ed25519')
    const did = didFromPublicKey(root.publicKey)
    const name = parseDid(did)
    expect(name.did).toBe(did)
    expect(name.rootKeyType).toBe('Ed25519')

    const document = documentWithAuthKey(did, auth)
    const first = await createFirstVersion({ document, updateKeys: [ed25519ToMultikey(update.publicKey)] }, root, T0)
    const record = await createRecord({ privateKey: root, value: first.cid, sequence: 0n, validUntilMs: T0 + DAY_MS })

    const validated = await validateRecord(name, record.bytes, T0 + HOUR_MS)
    expect(validated.sequence).toBe(0n)
    const head = recordValueCid(validated)
    expect(head.equals(first.cid)).toBe(true)

    const decoded = await decodeVersionNode(head, first.bytes, did)
    expect(decoded.node.document).toEqual(document)
    expect(decoded.node.version).toBe(1)
    expect(decoded.node.created).toBe('2026-01-01T00:00:00Z')
    const decision = await walkChain(head, loaderOf([first]), name)
    expect(decision.kind).toBe('extends')
  })

  it('100 chained versions: every record validates and the whole chain verifies back to the root key', async () => {
    const root = await generateKeyPair('Ed25519')
    const update = await generateKeyPair('Ed25519')
    const did = didFromPublicKey(root.publicKey)
    const name = parseDid(did)
    const updateKeys = [ed25519ToMultikey(update.publicKey)]
    const chain: DecodedVersionNode[] = []
    const documents = []
    for (let i = 0; i < 100; i++) {
      const auth = await generateKeyPair('Ed25519')
      const document = documentWithAuthKey(did, auth)
      documents.push(document)
      const node = i === 0
        ? await createFirstVersion({ document, updateKeys }, root, T0)
        : await createNextVersion(chain[i - 1]!, { document, updateKeys }, update, T0 + i * HOUR_MS)
      chain.push(node)
      const record = await createRecord({ privateKey: root, value: node.cid, sequence: BigInt(i), validUntilMs: T0 + 200 * HOUR_MS })
      const validated = await validateRecord(name, record.bytes, T0 + i * HOUR_MS)
      expect(validated.sequence).toBe(BigInt(i))
      expect(recordValueCid(validated).equals(node.cid)).toBe(true)
    }
    const head = chain.at(-1)!
    const decision = await walkChain(head.cid, loaderOf(chain), name)
    if (decision.kind !== 'extends') throw new Error(`expected extends, got ${decision.kind}`)
    expect(decision.nodes).toHaveLength(100)
    expect(decision.nodes.map(n => n.node.version)).toEqual(Array.from({ length: 100 }, (_, i) => 100 - i))
    expect(decision.nodes.map(n => n.node.document)).toEqual([...documents].reverse())
    expect(decision.nodes.at(-1)!.node.created).toBe(head.node.created)
  })
})
