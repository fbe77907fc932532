/**
 * The pure core on the resolver's hot path, each against the primitive it is built on, measured in the same
 * run: parsing a DID (vs. parsing a CID), validating an IPNS record (vs. one raw Ed25519 verification),
 * decoding and verifying a version node (vs. one raw Ed25519 verification), and verifying a 100-version
 * chain (per version, vs. decoding one node).
 */
import { CID } from 'multiformats/cid'
import { base36 } from 'multiformats/bases/base36'
import { parseDid } from '../src/did/identifier.ts'
import { walkChain } from '../src/did/history.ts'
import { decodeVersionNode, signingBytes } from '../src/did/version-node.ts'
import { createRecord, validateRecord } from '../src/ipns/record.ts'
import { DAY_MS, T0, buildChain, loaderOf, testIdentity } from '../test/helpers/fixtures.ts'
import { TABLE_HEAD, measure, row } from './harness.ts'

export async function coreBenchmarks (): Promise<string> {
  const id = await testIdentity(60)
  const name = parseDid(id.did)
  const chain = await buildChain(id, 100)
  const head = chain.at(-1)!
  const record = await createRecord({ privateKey: id.root, value: head.cid, sequence: 99n, validUntilMs: T0 + DAY_MS })
  const load = loaderOf(chain)
  const { signature, ...unsigned } = head.node
  const signed = signingBytes(unsigned)
  const signer = id.update[0]!.publicKey

  const cidParse = await measure('baseline: CID.parse (base36)', () => CID.parse(name.id, base36))
  const didParse = await measure('parseDid (canonical k51…)', () => parseDid(id.did))
  const verify = await measure('baseline: one Ed25519 verify', async () => signer.verify(signed, signature))
  const recordValidate = await measure('validateRecord (10 KiB limit, V2 sig, key ↔ name, EOL)', async () => validateRecord(name, record.bytes, T0))
  const nodeDecode = await measure('decodeVersionNode (hash, dag-cbor, schema, document, signature)', async () => decodeVersionNode(head.cid, head.bytes, id.did))
  const chainWalk = await measure('walkChain, 100 versions from memory (per call)', async () => walkChain(head.cid, load, name), 3000)
  const perVersion = { ...chainWalk, name: 'walkChain, per version', opsPerSecond: chainWalk.opsPerSecond * 100, p50Us: chainWalk.p50Us / 100, p99Us: chainWalk.p99Us / 100 }

  return [
    '## Core (pure did:ipid logic)',
    '',
    'Each operation with the primitive it is built on, measured in the same run; the ratio is ops/s of the',
    'operation over ops/s of its baseline (1.00 = no overhead beyond the primitive).',
    '',
    TABLE_HEAD,
    row(cidParse),
    row(didParse, cidParse),
    row(verify),
    row(recordValidate, verify),
    row(nodeDecode, verify),
    row(chainWalk),
    row(perVersion, nodeDecode),
    ''
  ].join('\n')
}
