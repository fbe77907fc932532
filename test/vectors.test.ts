/**
 * Runs every interop vector under test/vectors/ (format: test/vectors/README.md): each valid vector must be
 * accepted with exactly the expected result, each invalid one rejected with the expected code and reason.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagJson from '@ipld/dag-json'
import { base64 } from 'multiformats/bases/base64'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { validateDocument } from '../src/did/document.ts'
import { walkChain } from '../src/did/history.ts'
import { equivalentDids, parseDid, parseDidUrl } from '../src/did/identifier.ts'
import { normaliseLegacyDocument } from '../src/did/legacy.ts'
import { compareRecords, recordValueCid, validateRecord } from '../src/ipns/record.ts'
import { IpidError } from '../src/errors.ts'
import { normalisedAsJson } from './helpers/fixtures.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), 'vectors')
type Vector = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function vectorsIn (folder: string): Array<[string, Vector]> {
  return readdirSync(join(root, folder)).filter(f => f.endsWith('.json')).sort()
    .map(f => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(root, folder, f), 'utf8')) as Vector])
}

async function expectError (run: () => unknown, error: { code: string, reason: string, name?: string }): Promise<void> {
  let thrown: unknown
  try {
    await run()
  } catch (err) {
    thrown = err
  }
  expect(thrown, 'expected a rejection').toBeInstanceOf(IpidError)
  const err = thrown as IpidError
  expect({ code: err.code, reason: err.reason }).toEqual({ code: error.code, reason: error.reason })
  if (error.name !== undefined) expect(err.name).toBe(error.name)
}

const bytes = (b64: string): Uint8Array => base64.baseDecode(b64)

for (const folder of ['dids', 'documents', 'legacy', 'chains', 'records']) {
  const vectors = vectorsIn(folder)
  describe(`vectors: ${folder}`, () => {
    it('has both valid and invalid cases', () => {
      expect(vectors.some(([, v]) => v.valid === true)).toBe(true)
      expect(vectors.some(([, v]) => v.valid === false || v.valueError !== undefined || v.expected === 'a' || v.expected === 'b')).toBe(true)
    })
    for (const [name, v] of vectors) {
      it(name, async () => run(folder, v))
    }
  })
}

async function run (folder: string, v: Vector): Promise<void> {
  switch (folder) {
    case 'dids': {
      const parse = v.kind === 'didUrl' ? parseDidUrl : parseDid
      if (!v.valid) return expectError(() => parse(v.input), v.error)
      const parsed = parseDidUrl(v.input)
      expect(parsed.did).toBe(v.expected.canonical)
      if (v.kind === 'didUrl') {
        expect({ path: parsed.path, query: parsed.query, fragment: parsed.fragment })
          .toEqual({ path: v.expected.path, query: v.expected.query, fragment: v.expected.fragment })
      } else {
        const name = parseDid(v.input)
        expect(equivalentDids(name)).toEqual(v.expected.equivalent)
        expect(name.rootKeyType).toBe(v.expected.rootKeyType)
        // Every spelling parses back to the same canonical DID.
        for (const other of v.expected.equivalent as string[]) expect(parseDid(other).did).toBe(v.expected.canonical)
      }
      return
    }
    case 'documents':
      if (!v.valid) return expectError(() => validateDocument(v.document, v.did), v.error)
      expect(validateDocument(v.document, v.did)).toEqual(v.document)
      return
    case 'legacy': {
      const value = v.encoding === 'dag-cbor' ? dagJson.decode(dagJson.encode(v.input)) : v.input
      const normalise = () => normaliseLegacyDocument(value, parseDid(v.did), { nowMs: Date.parse(v.now) })
      if (!v.valid) return expectError(normalise, v.error)
      const result = normalise()
      expect(normalisedAsJson(result)).toEqual(v.expected)
      // The normalised document is itself a valid current document.
      expect(validateDocument(result.document, parseDid(v.did).did)).toEqual(result.document)
      return
    }
    case 'chains': {
      const blocks = new Map(Object.entries(v.blocks as Record<string, string>).map(([cid, b]) => [cid, bytes(b)]))
      const load = async (cid: CID): Promise<Uint8Array> => {
        const block = blocks.get(cid.toString())
        if (block === undefined) throw new Error(`vector has no block ${cid.toString()}`)
        return block
      }
      const known = v.known === undefined ? undefined : { cid: CID.parse(v.known.cid), version: v.known.version }
      const walk = async () => walkChain(CID.parse(v.head), load, parseDid(v.did), known === undefined ? {} : { known })
      if (!v.valid) return expectError(walk, v.error)
      const decision = await walk()
      expect(decision.kind).toBe(v.expected.kind)
      if (decision.kind === 'extends') expect(decision.nodes.map(n => n.cid.toString())).toEqual(v.expected.versions)
      return
    }
    case 'records': {
      const name = parseDid(v.did)
      const now = Date.parse(v.now)
      if (v.a !== undefined) {
        const a = await validateRecord(name, bytes(v.a), now)
        const b = await validateRecord(name, bytes(v.b), now)
        expect(Math.sign(compareRecords(a, b))).toBe(v.expected === 'a' ? 1 : -1)
        expect(Math.sign(compareRecords(b, a))).toBe(v.expected === 'a' ? -1 : 1)
        return
      }
      if (!v.valid) return expectError(async () => validateRecord(name, bytes(v.record), now), v.error)
      const record = await validateRecord(name, bytes(v.record), now)
      if (v.valueError !== undefined) return expectError(() => recordValueCid(record), v.valueError)
      expect({
        value: record.value,
        cid: recordValueCid(record).toString(),
        sequence: record.sequence.toString(),
        validUntil: new Date(record.validUntilMs).toISOString(),
        ttlMs: record.ttlMs
      }).toEqual(v.expected)
      return
    }
    default:
      throw new Error(`unknown vector folder ${folder}`)
  }
}
