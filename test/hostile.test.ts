/**
 * Hostile input: random and mutated DIDs, records, version nodes and legacy documents. Every parser must
 * either accept or fail with a typed IpidError (a clear code and reason), never with anything else.
 * Inputs come from a seeded generator, so a failure reproduces.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { IpidError } from '../src/errors.ts'
import { parseDid, parseDidUrl } from '../src/did/identifier.ts'
import { normaliseLegacyDocument } from '../src/did/legacy.ts'
import { decodeVersionNode } from '../src/did/version-node.ts'
import { validateDocument } from '../src/did/document.ts'
import { createRecord, validateRecord } from '../src/ipns/record.ts'
import { DAY_MS, T0, buildChain, testIdentity } from './helpers/fixtures.ts'
import { prng } from './helpers/prng.ts'


const ROUNDS = 1500

async function onlyTypedErrors (run: () => unknown): Promise<'ok' | 'rejected'> {
  try {
    await run()
    return 'ok'
  } catch (err) {
    if (!(err instanceof IpidError)) throw new Error(`untyped failure: ${String(err)}`, { cause: err })
    expect(err.reason).toMatch(/^[a-z0-9_:]+$/)
    return 'rejected'
  }
}

function mutate (bytes: Uint8Array, random: () => number): Uint8Array {
  const out = new Uint8Array(bytes)
  const kind = Math.floor(random() * 3)
  if (kind === 0) {
    const i = Math.floor(random() * out.length)
    out[i] = (out[i] ?? 0) ^ (1 << Math.floor(random() * 8))
    return out
  }
  if (kind === 1) return out.subarray(0, Math.floor(random() * out.length))
  const extra = Uint8Array.from({ length: 1 + Math.floor(random() * 8) }, () => Math.floor(random() * 256))
  const at = Math.floor(random() * out.length)
  return Uint8Array.from([...out.subarray(0, at), ...extra, ...out.subarray(at)])
}

describe('hostile input', () => {
  it('DIDs and DID URLs: random and mutated strings', async () => {
    const random = prng(1)
    const alphabet = 'did:ipid:kKbBQm12D3oW#?/%;.-_~ \u0000\u00e9\ud83d\ude00zZ0123456789abcdef'
    const valid = (await testIdentity(100)).did
    let rejected = 0
    for (let i = 0; i < ROUNDS; i++) {
      const input = random() < 0.5
        ? Array.from({ length: Math.floor(random() * 80) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
        : new TextDecoder().decode(mutate(new TextEncoder().encode(valid), random))
      for (const parse of [parseDid, parseDidUrl]) {
        if (await onlyTypedErrors(() => parse(input)) === 'rejected') rejected++
      }
    }
    expect(rejected).toBeGreaterThan(ROUNDS)
  })

  it('IPNS records: random bytes and single mutations of a valid record', async () => {
    const random = prng(2)
    const id = await testIdentity(101)
    const name = parseDid(id.did)
    const good = await createRecord({ privateKey: id.root, value: CID.parse('bafkqaaa'), sequence: 1n, validUntilMs: T0 + DAY_MS })
    let accepted = 0
    for (let i = 0; i < ROUNDS; i++) {
      const input = random() < 0.2 ? Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)) : mutate(good.bytes, random)
      if (await onlyTypedErrors(async () => validateRecord(name, input, T0)) === 'ok') accepted++
    }
    // A mutation can only be accepted where it touches bytes the signature does not cover (legacy V1 fields
    // that match), never the signed data: every accepted record still says what the owner signed.
    expect(accepted).toBeLessThan(ROUNDS / 2)
  })

  it('version nodes: mutated blocks (re-addressed, so only the content checks can catch them)', async () => {
    const random = prng(3)
    const id = await testIdentity(102)
    const [, second] = await buildChain(id, 2)
    let accepted = 0
    for (let i = 0; i < ROUNDS / 3; i++) {
      const bytes = mutate(second!.bytes, random)
      const cid = CID.createV1(dagCbor.code, await sha256.digest(bytes))
      if (await onlyTypedErrors(async () => decodeVersionNode(cid, bytes, id.did)) === 'ok') accepted++
    }
    expect(accepted).toBe(0)
  })

  it('legacy documents and current documents: random JSON-like values', async () => {
    const random = prng(4)
    const name = parseDid((await testIdentity(103)).did)
    const leaf = (): unknown => [null, true, 1, -0.5, 'x', '', name.did, `${name.did}#k`, '#k', 'did:ipid:bad', { '/': 'bafkqaaa' }, 'z6MkTOOSHORT'][Math.floor(random() * 12)]
    const keys = ['@context', 'id', 'publicKey', 'verificationMethod', 'authentication', 'service', 'type', 'publicKeyPem',
      'publicKeyBase58', 'publicKeyJwk', 'serviceEndpoint', 'controller', 'previous', 'owner', 'status', 'expires', 'kty', 'x', 'd']
    const value = (depth: number): unknown => {
      const r = random()
      if (depth > 3 || r < 0.3) return leaf()
      if (r < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1))
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 6) }, () => [keys[Math.floor(random() * keys.length)]!, value(depth + 1)]))
    }
    for (let i = 0; i < ROUNDS; i++) {
      const input = value(0)
      await onlyTypedErrors(() => validateDocument(input, name.did))
      const outcome = await onlyTypedErrors(() => {
        const result = normaliseLegacyDocument(input, name, { nowMs: T0 })
        // Whatever normalisation accepts is a valid current document.
        validateDocument(result.document, name.did)
      })
      expect(['ok', 'rejected']).toContain(outcome)
    }
  })
})
