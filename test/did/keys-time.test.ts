import { describe, expect, it } from 'vitest'
import { ed25519ToJwk, ed25519ToMultikey, jwkToEd25519, multikeyToEd25519, updateKeyCommitment } from '../../src/did/keys.ts'
import { formatTime, parseTime } from '../../src/did/time.ts'
import { seededKey } from '../helpers/fixtures.ts'

describe('key encodings', () => {
  it('round-trips Ed25519 keys through Multikey and JWK', async () => {
    const key = (await seededKey(80)).publicKey
    const multikey = ed25519ToMultikey(key)
    expect(multikey.startsWith('z6Mk')).toBe(true)
    expect(multikeyToEd25519(multikey)?.equals(key)).toBe(true)
    expect(jwkToEd25519({ ...ed25519ToJwk(key) })?.equals(key)).toBe(true)
  })

  it('refuses other curves, short keys, garbage and private JWKs', async () => {
    const jwk = ed25519ToJwk((await seededKey(80)).publicKey)
    expect(multikeyToEd25519('zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')).toBeUndefined() // secp256k1
    expect(multikeyToEd25519('z6Mk')).toBeUndefined()
    expect(multikeyToEd25519('not multibase')).toBeUndefined()
    expect(jwkToEd25519({ ...jwk, d: 'secret' })).toBeUndefined()
    expect(jwkToEd25519({ ...jwk, crv: 'X25519' })).toBeUndefined()
    expect(jwkToEd25519({ ...jwk, x: 'AAAA' })).toBeUndefined()
  })

  it('commits to update keys deterministically, one commitment per key', async () => {
    const a = ed25519ToMultikey((await seededKey(81)).publicKey)
    const b = ed25519ToMultikey((await seededKey(82)).publicKey)
    expect(await updateKeyCommitment(a)).toBe(await updateKeyCommitment(a))
    expect(await updateKeyCommitment(a)).not.toBe(await updateKeyCommitment(b))
    expect(await updateKeyCommitment(a)).toMatch(/^Qm[1-9A-HJ-NP-Za-km-z]{44}$/) // base58btc sha2-256 multihash
  })
})

describe('times', () => {
  it('formats UTC in whole seconds and parses only that form', () => {
    expect(formatTime(Date.UTC(2026, 10, 25, 11, 38, 21, 999))).toBe('2026-11-25T11:38:21Z')
    expect(parseTime('2026-11-25T11:38:21Z')).toBe(Date.UTC(2026, 10, 25, 11, 38, 21))
    for (const bad of ['2026-11-25T11:38:21.000Z', '2026-11-25T11:38:21+00:00', '2026-02-30T00:00:00Z', '2026-11-25', 1, null]) {
      expect(parseTime(bad)).toBeUndefined()
    }
  })
})
