/**
 * Acceptance (issue 3): every valid legacy vector, published as an IPNS record by a test node, resolves over
 * the network to its normalised form. The vectors' DIDs belong to keys nobody has, so each vector is re-homed
 * under a fresh key of the same kind (RSA for hashed names, Ed25519 otherwise): every spelling of the vector's
 * DID is replaced by the same spelling of the new one. dag-cbor vectors are published as dag-cbor blocks;
 * `json` vectors as single-block UnixFS files, as js-did-ipid 0.1 wrote them.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { UnixFS } from 'ipfs-unixfs'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { didFromPublicKey, equivalentDids, parseDid } from '../../src/did/identifier.ts'
import { createRecord } from '../../src/ipns/record.ts'
import { Resolver } from '../../src/resolver/resolver.ts'
import { DAY_MS, startMesh, stopAll } from '../helpers/network.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'
import type { PrivateKey } from '@libp2p/interface'

const folder = join(dirname(fileURLToPath(import.meta.url)), '../vectors/legacy')
const vectors = readdirSync(folder).filter(f => f.endsWith('.json')).sort()
  .map(f => [f, JSON.parse(readFileSync(join(folder, f), 'utf8'))] as [string, Record<string, any>]) // eslint-disable-line @typescript-eslint/no-explicit-any
  .filter(([, v]) => v.valid === true)

let a: EmbeddedNode
let c: EmbeddedNode
let rsaKey: PrivateKey

beforeAll(async () => {
  [a, c] = await startMesh(2) as [EmbeddedNode, EmbeddedNode]
  rsaKey = await generateKeyPair('RSA', 2048)
}, 60_000)
afterAll(async () => { await stopAll([a, c]) })

function spellings (did: string): string[] {
  const name = parseDid(did)
  return [name.did, ...equivalentDids(name), `did:ipid:${base58btc.baseEncode(name.multihash.bytes)}`]
}

function rehome (value: unknown, from: string, to: string): unknown {
  const [fromSpellings, toSpellings] = [spellings(from), spellings(to)]
  let text = JSON.stringify(value)
  fromSpellings.forEach((spelling, i) => { text = text.split(spelling).join(`\u0000${i}\u0000`) })
  toSpellings.forEach((spelling, i) => { text = text.split(`\u0000${i}\u0000`).join(spelling) })
  return JSON.parse(text)
}

async function publishContent (encoding: string, input: unknown): Promise<CID> {
  if (encoding === 'dag-cbor') {
    const bytes = dagCbor.encode(dagJson.decode(dagJson.encode(input)))
    const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
    await a.putBlock(cid, bytes)
    return cid
  }
  const file = new UnixFS({ type: 'file', data: new TextEncoder().encode(JSON.stringify(input)) })
  const bytes = dagPb.encode(dagPb.prepare({ Data: file.marshal(), Links: [] }))
  const cid = CID.createV0(await sha256.digest(bytes))
  await a.putBlock(cid, bytes)
  return cid
}

describe('legacy vectors published on the network', () => {
  it('there are legacy vectors to publish', () => { expect(vectors.length).toBeGreaterThan(8) })

  for (const [file, vector] of vectors) {
    it(file, async () => {
      const hashed = parseDid(vector.did).rootKeyType === 'hashed'
      const key = hashed ? rsaKey : await generateKeyPair('Ed25519')
      const did = didFromPublicKey(key.publicKey)
      const cid = await publishContent(vector.encoding, rehome(vector.input, vector.did, did))
      // A fresh name per vector for RSA too: each RSA vector gets its own sequence on the shared key.
      const sequence = BigInt(vectors.findIndex(([f]) => f === file))
      const record = await createRecord({ privateKey: key, value: cid, sequence, validUntilMs: Date.now() + DAY_MS })
      await a.putRecord(parseDid(did), record.bytes)

      // Resolve at the vector's `now`, against which legacy keys' `expires` are judged (records made today are
      // valid then too: their EOL lies in the future of that clock).
      const resolver = new Resolver({ backend: c, watch: false, deadlineMs: 5000, clock: () => Date.parse(vector.now) })
      const result = await resolver.resolve(did, { noCache: true })
      expect(result.didResolutionMetadata.error, JSON.stringify(result.didResolutionMetadata)).toBeUndefined()
      expect(result.didDocument).toEqual(rehome(vector.expected.document, vector.did, did))
      // IPNS records carry CIDv1: a CIDv0 (UnixFS) block is named in its v1 form.
      expect(result.didDocumentMetadata).toMatchObject({ versionId: cid.toV1().toString(), normalised: true, deactivated: vector.expected.deactivated })
    }, 30_000)
  }
})
