import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { InvalidRecordError } from '../../src/errors.ts'
import { didFromPublicKey, parseDid } from '../../src/did/identifier.ts'
import { DEFAULT_RECORD_TTL_MS, compareRecords, createRecord, recordValueCid, routingKeyOf, validateRecord } from '../../src/ipns/record.ts'
import { DAY_MS, HOUR_MS, T0, seededKey } from '../helpers/fixtures.ts'

const value = CID.parse('bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua')

describe('IPNS records', () => {
  it('validates an RSA-named record (hashed name, public key embedded in the record)', async () => {
    const rsa = await generateKeyPair('RSA', 2048)
    const name = parseDid(didFromPublicKey(rsa.publicKey))
    expect(name.rootKeyType).toBe('hashed')
    expect(name.id.startsWith('k2k4r8')).toBe(true)
    const record = await createRecord({ privateKey: rsa, value, sequence: 1n, validUntilMs: T0 + DAY_MS })
    const validated = await validateRecord(name, record.bytes, T0)
    expect(recordValueCid(validated).equals(value)).toBe(true)
    // The same record offered for another hashed name is refused: the embedded key does not hash to it.
    const other = parseDid(didFromPublicKey((await generateKeyPair('RSA', 2048)).publicKey))
    await expect(validateRecord(other, record.bytes, T0)).rejects.toMatchObject({ reason: 'key_mismatch', code: 'notFound' })
  }, 60_000)

  it('uses the injected clock for expiry, to the millisecond', async () => {
    const key = await seededKey(70)
    const name = parseDid(didFromPublicKey(key.publicKey))
    const record = await createRecord({ privateKey: key, value, sequence: 0n, validUntilMs: T0 + HOUR_MS })
    await expect(validateRecord(name, record.bytes, T0 + HOUR_MS - 1)).resolves.toMatchObject({ validUntilMs: T0 + HOUR_MS })
    const expired = await validateRecord(name, record.bytes, T0 + HOUR_MS).catch((e: unknown) => e)
    expect(expired).toBeInstanceOf(InvalidRecordError)
    expect((expired as InvalidRecordError).reason).toBe('expired')
  })

  it('carries the TTL, defaulting to the named constant', async () => {
    const key = await seededKey(71)
    const name = parseDid(didFromPublicKey(key.publicKey))
    const byDefault = await createRecord({ privateKey: key, value, sequence: 0n, validUntilMs: T0 + DAY_MS })
    expect((await validateRecord(name, byDefault.bytes, T0)).ttlMs).toBe(DEFAULT_RECORD_TTL_MS)
    const custom = await createRecord({ privateKey: key, value, sequence: 0n, validUntilMs: T0 + DAY_MS, ttlMs: 30_000 })
    expect((await validateRecord(name, custom.bytes, T0)).ttlMs).toBe(30_000)
  })

  it('orders records totally: sequence, then EOL, then bytes; never a tie between different records', async () => {
    const key = await seededKey(72)
    const records = await Promise.all([
      createRecord({ privateKey: key, value, sequence: 2n, validUntilMs: T0 + DAY_MS }),
      createRecord({ privateKey: key, value, sequence: 1n, validUntilMs: T0 + 9 * DAY_MS }),
      createRecord({ privateKey: key, value: CID.parse('bafkqaaa'), sequence: 2n, validUntilMs: T0 + DAY_MS }),
      createRecord({ privateKey: key, value, sequence: 2n, validUntilMs: T0 + 2 * DAY_MS })
    ])
    const sorted = [...records].sort(compareRecords)
    expect(sorted[0]).toBe(records[1])
    expect(sorted[3]).toBe(records[3])
    expect(compareRecords(records[0]!, records[2]!)).not.toBe(0)
    expect(compareRecords(records[0]!, records[0]!)).toBe(0)
  })

  it('reads the 2018 draft\'s /ipld/ value form and refuses paths below a CID', () => {
    expect(recordValueCid({ value: `/ipld/${value.toString()}` }).equals(value)).toBe(true)
    expect(() => recordValueCid({ value: `/ipfs/${value.toString()}/document` })).toThrow(InvalidRecordError)
    expect(() => recordValueCid({ value: '/ipfs/' })).toThrow(InvalidRecordError)
  })

  it('routing key is /ipns/ + the multihash', async () => {
    const name = parseDid(didFromPublicKey((await seededKey(73)).publicKey))
    const key = routingKeyOf(name)
    expect(new TextDecoder().decode(key.subarray(0, 6))).toBe('/ipns/')
    expect(key.subarray(6)).toEqual(name.multihash.bytes)
  })
})
