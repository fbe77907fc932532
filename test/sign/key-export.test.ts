/**
 * One Ed25519 key in standard formats: the RFCs' own test keys come out as the RFCs print them (RFC 8037 A.1 JWK,
 * RFC 8410 PKCS#8 and SPKI PEM); a JWK signs, through did-jwt's EdDSASigner, a JWT that jose (another library)
 * verifies with the public JWK; a PEM loads with createPrivateKey and signs for the public key; an encrypted PEM
 * opens with the passphrase only, and asks for PEM_PBKDF2_ITERATIONS of PBKDF2-HMAC-SHA256 (not OpenSSL's 2048).
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { EdDSASigner, createJWT } from 'did-jwt'
import { importJWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  KeyExportError, MIN_PEM_PBKDF2_ITERATIONS, PEM_PBKDF2_ITERATIONS, exportPrivateKey, exportPublicKey, keyBytesOf, privateJwk, privatePem, publicJwk, publicPem
} from '../../src/sign/key-export.ts'

/** RFC 8037 Appendix A.1. */
const RFC8037 = { d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }
/** RFC 8410 §10.3 (private key) and §10.1 (its public key). */
const RFC8410_PRIVATE = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n'
const RFC8410_PUBLIC = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n'
const KID = 'did:ipid:k51qzi5uqu5dlkeyexporttest#auth-1'
const PASS = 'a passphrase for the PEM, é'

const bytes = (b64url: string): Buffer => Buffer.from(b64url, 'base64url')
const rfc8037 = { seed: bytes(RFC8037.d), publicKey: bytes(RFC8037.x) }

async function libp2pKey (seed?: Uint8Array) {
  return seed === undefined ? generateKeyPair('Ed25519') : generateKeyPairFromSeed('Ed25519', seed)
}

describe('key export', () => {
  it('JWK: the RFC 8037 key as the RFC prints it, with the DID URL as kid; the public JWK has no d', async () => {
    expect(privateJwk(rfc8037, KID)).toEqual({ kty: 'OKP', crv: 'Ed25519', x: RFC8037.x, d: RFC8037.d, kid: KID })
    expect(publicJwk(rfc8037.publicKey, KID)).toEqual({ kty: 'OKP', crv: 'Ed25519', x: RFC8037.x, kid: KID })
    // From a libp2p key (raw = seed || public key), as the keystore opens it.
    const { seed, publicKey } = keyBytesOf(await libp2pKey(rfc8037.seed))
    expect([Buffer.from(seed), Buffer.from(publicKey)]).toEqual([rfc8037.seed, rfc8037.publicKey])
    const text = await exportPrivateKey(rfc8037, { format: 'jwk', kid: KID })
    expect(JSON.parse(text)).toEqual(privateJwk(rfc8037, KID))
    expect(text.endsWith('}\n')).toBe(true)
    expect(JSON.parse(exportPublicKey(rfc8037.publicKey, { format: 'jwk', kid: KID }))).not.toHaveProperty('d')
  })

  it('PEM: PKCS#8 and SPKI of the RFC 8410 key byte for byte; the private PEM signs for the public one', async () => {
    const jwk = createPrivateKey(RFC8410_PRIVATE).export({ format: 'jwk' })
    const key = { seed: bytes(jwk.d!), publicKey: bytes(jwk.x!) }
    expect(await privatePem(key)).toBe(RFC8410_PRIVATE)
    expect(publicPem(key.publicKey)).toBe(RFC8410_PUBLIC)
    expect(exportPublicKey(key.publicKey, { format: 'pem' })).toBe(RFC8410_PUBLIC)
    const data = Buffer.from('signed with the exported key')
    const signature = sign(null, data, createPrivateKey(await exportPrivateKey(key, { format: 'pem' })))
    expect(verify(null, data, createPublicKey(RFC8410_PUBLIC), signature)).toBe(true)
  })

  it('a libp2p key exported as a JWK signs, with did-jwt\'s EdDSASigner, a JWT that jose verifies with the public JWK', async () => {
    const key = await libp2pKey()
    const jwk = JSON.parse(await exportPrivateKey(keyBytesOf(key), { format: 'jwk', kid: KID })) as { d: string, x: string }
    expect(bytes(jwk.x)).toEqual(Buffer.from(key.publicKey.raw))
    const jwt = await createJWT({ sub: 'key export', aud: 'https://app.example' }, { issuer: 'did:ipid:k51qzi5uqu5dlkeyexporttest', signer: EdDSASigner(bytes(jwk.d)), alg: 'EdDSA' }, { kid: KID })
    const publicKey = await importJWK(JSON.parse(exportPublicKey(key.publicKey.raw, { format: 'jwk' })) as Record<string, string>, 'EdDSA')
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, { audience: 'https://app.example' })
    expect([payload.sub, protectedHeader.kid, protectedHeader.alg]).toEqual(['key export', KID, 'EdDSA'])
    // And the exported private JWK is a key jose signs with too.
    expect(await importJWK(jwk as unknown as Record<string, string>, 'EdDSA')).toHaveProperty('type', 'private')
  })

  it('encrypted PEM: PBES2 with PBKDF2-HMAC-SHA256 at PEM_PBKDF2_ITERATIONS and AES-256-CBC; it opens with the passphrase only', async () => {
    const key = keyBytesOf(await libp2pKey())
    const pem = await exportPrivateKey(key, { format: 'pem', passphrase: PASS })
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END ENCRYPTED PRIVATE KEY-----\n$/)
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\n/g, ''), 'base64')
    const iterations = Buffer.from(PEM_PBKDF2_ITERATIONS.toString(16).padStart(6, '0'), 'hex')
    for (const part of [
      '06092a864886f70d01050d', // PBES2
      '06092a864886f70d01050c', // PBKDF2
      `0410${'[0-9a-f]{32}'}02${iterations.length.toString(16).padStart(2, '0')}${iterations.toString('hex')}`, // salt (16 bytes), iterations
      '06082a864886f70d0209', // hmacWithSHA256
      '060960864801650304012a0410' // aes-256-cbc, then its 16-byte IV
    ]) expect(der.toString('hex')).toMatch(new RegExp(part))
    const opened = createPrivateKey({ key: pem, passphrase: PASS }).export({ format: 'jwk' })
    expect([bytes(opened.d!), bytes(opened.x!)]).toEqual([Buffer.from(key.seed), Buffer.from(key.publicKey)])
    expect(() => createPrivateKey({ key: pem, passphrase: 'another passphrase' })).toThrow()
    expect(() => createPrivateKey(pem)).toThrow()
    // A fresh salt and IV each time.
    expect(await exportPrivateKey(key, { format: 'pem', passphrase: PASS })).not.toBe(pem)
  })

  it('refuses what it cannot do honestly: a JWK to encrypt, a seed of another key, wrong lengths, too few iterations', async () => {
    const key = keyBytesOf(await libp2pKey())
    await expect(exportPrivateKey(key, { format: 'jwk', passphrase: PASS })).rejects.toMatchObject({ name: 'KeyExportError', reason: 'bad_options' })
    expect(() => privateJwk({ seed: key.seed, publicKey: rfc8037.publicKey })).toThrow(expect.objectContaining({ reason: 'key_mismatch' }) as Error)
    expect(() => privateJwk({ seed: key.seed.subarray(1), publicKey: key.publicKey })).toThrow(KeyExportError)
    expect(() => publicJwk(new Uint8Array(33))).toThrow(/32 bytes, not 33/)
    expect(() => keyBytesOf({ raw: new Uint8Array(48), publicKey: { raw: key.publicKey } } as never)).toThrow(KeyExportError)
    await expect(exportPrivateKey(key, { format: 'pem', passphrase: PASS, iterations: MIN_PEM_PBKDF2_ITERATIONS - 1 })).rejects.toMatchObject({ reason: 'bad_options' })
  })
})
