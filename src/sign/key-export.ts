/**
 * One Ed25519 key in the formats other wallets read: a JWK (RFC 8037: `kty: OKP`, `crv: Ed25519`, `x`, and `d`
 * for the private key), PKCS#8 PEM for the private key (RFC 5958, `BEGIN PRIVATE KEY`), optionally encrypted
 * (`BEGIN ENCRYPTED PRIVATE KEY`: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC, RFC 8018), and SPKI PEM for the public key
 * (RFC 8410). Pure conversions over node:crypto: no file, no prompt, no policy on which key may leave (that is the
 * CLI's, src/cli/key-export.ts).
 *
 * Node's own encrypted export (`KeyObject.export({ cipher, passphrase })`) derives the key with OpenSSL's default of
 * 2048 PBKDF2 iterations: a leaked file would let its passphrase — the identity's — be guessed hundreds of times
 * faster than the keystore's scrypt allows. So the encrypted PKCS#8 structure is assembled here, around node:crypto's
 * PBKDF2 and AES, with PEM_PBKDF2_ITERATIONS; OpenSSL (and so Node's `createPrivateKey`) reads it like its own.
 */
import { createCipheriv, createPrivateKey, createPublicKey, pbkdf2, randomBytes } from 'node:crypto'
import { ED25519_PUBLIC_KEY_BYTES } from '../did/keys.ts'
import { OperationError } from '../errors.ts'
import type { KeyObject } from 'node:crypto'
import type { Ed25519PrivateKey } from '@libp2p/interface'

export const KEY_EXPORT_FORMATS = ['jwk', 'pem'] as const
export type KeyExportFormat = typeof KEY_EXPORT_FORMATS[number]

/** An Ed25519 private key is a 32-byte seed (RFC 8032 §5.1.5); its public key is 32 bytes too. */
export const ED25519_SEED_BYTES = 32
/** PBKDF2-HMAC-SHA256 iterations of an encrypted PEM: OWASP's 2023 figure (about 0.3 s to open, here). */
export const PEM_PBKDF2_ITERATIONS = 600_000
/** Fewer are refused: below this an encrypted PEM guards its passphrase worse than the key files do. */
export const MIN_PEM_PBKDF2_ITERATIONS = 100_000
export const PEM_SALT_BYTES = 16
const AES_256_KEY_BYTES = 32
const AES_CBC_IV_BYTES = 16
/** Base64 characters per PEM line (RFC 7468 §2). */
const PEM_LINE_CHARS = 64

/** The DER of the object identifiers an encrypted PKCS#8 names (tag 0x06, length, value). */
const OID_PBES2 = Buffer.from('06092a864886f70d01050d', 'hex') // 1.2.840.113549.1.5.13
const OID_PBKDF2 = Buffer.from('06092a864886f70d01050c', 'hex') // 1.2.840.113549.1.5.12
const OID_HMAC_SHA256 = Buffer.from('06082a864886f70d0209', 'hex') // 1.2.840.113549.2.9
const OID_AES_256_CBC = Buffer.from('060960864801650304012a', 'hex') // 2.16.840.1.101.3.4.1.42
const DER_NULL = Buffer.from('0500', 'hex')
/** PKCS#8 of an Ed25519 key up to its 32-byte seed (RFC 8410 §7): version 0, id-Ed25519, OCTET STRING (OCTET STRING). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const DER_SEQUENCE = 0x30
const DER_INTEGER = 0x02
const DER_OCTET_STRING = 0x04

export class KeyExportError extends OperationError {
  override readonly name = 'KeyExportError'
}

/** An Ed25519 key pair as raw bytes. */
export interface Ed25519KeyBytes {
  /** The 32-byte private seed. */
  seed: Uint8Array
  publicKey: Uint8Array
}

/** A JWK of an Ed25519 key (RFC 8037 §2); `d` only in a private one. */
export interface Ed25519ExportJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  d?: string
  /** The key's absolute DID URL (`did:ipid:…#auth-1`), what a JWS header names it by. */
  kid?: string
}

export interface ExportOptions {
  format: KeyExportFormat
  /** The key's DID URL, written as the JWK's `kid` (a PEM has no place for it). */
  kid?: string
  /** PEM only: encrypt the PKCS#8 under this passphrase (its UTF-8 bytes, as OpenSSL takes them). */
  passphrase?: string
  /** PBKDF2 iterations of an encrypted PEM (default PEM_PBKDF2_ITERATIONS). */
  iterations?: number
}

/** The seed and public key of a libp2p Ed25519 key (its `raw` is seed || public key, or the seed alone). */
export function keyBytesOf (key: Pick<Ed25519PrivateKey, 'raw' | 'publicKey'>): Ed25519KeyBytes {
  const raw = key.raw
  if (raw.length !== ED25519_SEED_BYTES && raw.length !== ED25519_SEED_BYTES + ED25519_PUBLIC_KEY_BYTES) {
    throw new KeyExportError('bad_key', `not an Ed25519 private key (${raw.length} bytes)`)
  }
  return { seed: raw.subarray(0, ED25519_SEED_BYTES), publicKey: key.publicKey.raw }
}

/** The private JWK; refuses a seed whose public key is not the one given. */
export function privateJwk (key: Ed25519KeyBytes, kid?: string): Ed25519ExportJwk {
  privateKeyObject(key)
  return { ...publicJwk(key.publicKey), d: Buffer.from(key.seed).toString('base64url'), ...(kid === undefined ? {} : { kid }) }
}

export function publicJwk (publicKey: Uint8Array, kid?: string): Ed25519ExportJwk {
  checkLength(publicKey, ED25519_PUBLIC_KEY_BYTES, 'public key')
  return { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url'), ...(kid === undefined ? {} : { kid }) }
}

/** The private key as PKCS#8 PEM, encrypted when a passphrase is given. */
export async function privatePem (key: Ed25519KeyBytes, passphrase?: string, iterations = PEM_PBKDF2_ITERATIONS): Promise<string> {
  const pkcs8 = privateKeyObject(key).export({ type: 'pkcs8', format: 'der' })
  if (passphrase === undefined) return pem('PRIVATE KEY', pkcs8)
  try {
    return pem('ENCRYPTED PRIVATE KEY', await encryptPkcs8(pkcs8, passphrase, iterations))
  } finally {
    pkcs8.fill(0)
  }
}

export function publicPem (publicKey: Uint8Array): string {
  return createPublicKey({ key: { ...publicJwk(publicKey) }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
}

/** The text of an export: a JWK as JSON, or a PEM block, ending with a newline. */
export async function exportPrivateKey (key: Ed25519KeyBytes, options: ExportOptions): Promise<string> {
  if (options.format === 'jwk') {
    if (options.passphrase !== undefined) throw new KeyExportError('bad_options', 'a JWK is not encrypted: encrypt a PEM, or keep the JWK file safe')
    return jwkText(privateJwk(key, options.kid))
  }
  return privatePem(key, options.passphrase, options.iterations)
}

export function exportPublicKey (publicKey: Uint8Array, options: Pick<ExportOptions, 'format' | 'kid'>): string {
  return options.format === 'jwk' ? jwkText(publicJwk(publicKey, options.kid)) : publicPem(publicKey)
}

/** The seed as a node:crypto key, checked against the public key given (the seed alone determines it). */
function privateKeyObject (key: Ed25519KeyBytes): KeyObject {
  checkLength(key.seed, ED25519_SEED_BYTES, 'private key')
  checkLength(key.publicKey, ED25519_PUBLIC_KEY_BYTES, 'public key')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, key.seed]), format: 'der', type: 'pkcs8' })
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x
  if (x !== Buffer.from(key.publicKey).toString('base64url')) throw new KeyExportError('key_mismatch', 'the private key does not belong to the public key given')
  return privateKey
}

function jwkText (jwk: Ed25519ExportJwk): string {
  return `${JSON.stringify(jwk, null, 2)}\n`
}

function checkLength (bytes: Uint8Array, expected: number, what: string): void {
  if (bytes.length !== expected) throw new KeyExportError('bad_key', `an Ed25519 ${what} has ${expected} bytes, not ${bytes.length}`)
}

/**
 * EncryptedPrivateKeyInfo (RFC 5958 §3) of a PKCS#8 DER: PBES2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA256 and
 * AES-256-CBC, the structure OpenSSL writes, with `iterations` in place of its 2048.
 */
async function encryptPkcs8 (pkcs8: Buffer, passphrase: string, iterations: number): Promise<Buffer> {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_PEM_PBKDF2_ITERATIONS) {
    throw new KeyExportError('bad_options', `an encrypted PEM takes at least ${MIN_PEM_PBKDF2_ITERATIONS} PBKDF2 iterations`)
  }
  const salt = randomBytes(PEM_SALT_BYTES)
  const iv = randomBytes(AES_CBC_IV_BYTES)
  const key = await new Promise<Buffer>((resolve, reject) => {
    pbkdf2(Buffer.from(passphrase, 'utf8'), salt, iterations, AES_256_KEY_BYTES, 'sha256', (err, derived) => {
      if (err !== null) reject(err)
      else resolve(derived)
    })
  })
  const cipher = createCipheriv('aes-256-cbc', key, iv)
  const encrypted = Buffer.concat([cipher.update(pkcs8), cipher.final()])
  key.fill(0)
  const kdf = der(DER_SEQUENCE, OID_PBKDF2, der(DER_SEQUENCE, der(DER_OCTET_STRING, salt), derInteger(iterations), der(DER_SEQUENCE, OID_HMAC_SHA256, DER_NULL)))
  const scheme = der(DER_SEQUENCE, OID_AES_256_CBC, der(DER_OCTET_STRING, iv))
  return der(DER_SEQUENCE, der(DER_SEQUENCE, OID_PBES2, der(DER_SEQUENCE, kdf, scheme)), der(DER_OCTET_STRING, encrypted))
}

/** A DER element: tag, definite length (short or long form), contents. */
function der (tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents)
  return Buffer.concat([Buffer.of(tag), derLength(body.length), body])
}

function derLength (length: number): Buffer {
  if (length < 0x80) return Buffer.of(length)
  const bytes = unsignedBytes(length)
  return Buffer.of(0x80 | bytes.length, ...bytes)
}

/** A non-negative INTEGER: big-endian, minimal, with a leading zero byte when the high bit is set. */
function derInteger (value: number): Buffer {
  const bytes = unsignedBytes(value)
  const highBit = ((bytes[0] ?? 0) & 0x80) !== 0
  return der(DER_INTEGER, Buffer.from(highBit || bytes.length === 0 ? [0, ...bytes] : bytes))
}

function unsignedBytes (value: number): number[] {
  const bytes: number[] = []
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return bytes
}

function pem (label: string, bytes: Buffer): string {
  const lines = bytes.toString('base64').match(new RegExp(`.{1,${PEM_LINE_CHARS}}`, 'g')) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}
