/**
 * Encrypted key files. Each private key is sealed with AES-256-GCM under a key derived from the passphrase
 * with scrypt (memory-hard); the file's header (format, role, public key, KDF and cipher parameters) is bound
 * to the ciphertext as associated data, so editing any of it makes decryption fail. Files are created 0600
 * and written atomically (temporary file, fsync, rename), so a crash mid-write leaves the old file or the new,
 * never half of one. Node's own crypto does all of it: no native add-on, nothing hand-rolled.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { z } from 'zod'
import { ed25519ToMultikey } from '../did/keys.ts'
import { OperationError } from '../errors.ts'
import { MAX_PASSPHRASE_LENGTH, MAX_SCRYPT_LOG_N, MIN_PASSPHRASE_LENGTH, MIN_SCRYPT_LOG_N } from '../shared-constants.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import type { Dirent } from 'node:fs'

export const KEY_FILE_FORMAT = 'ipidd-key/1'
/** scrypt cost: 2^17 × r=8 → 128 MiB and a few hundred ms per unlock, the usual interactive-login setting. */
export const DEFAULT_SCRYPT_LOG_N = 17
export const SCRYPT_R = 8
export const SCRYPT_P = 1
/** Files asking for less work than MIN_SCRYPT_LOG_N are refused as too weak; more than the max, as a memory bomb. */
export { MAX_PASSPHRASE_LENGTH, MAX_SCRYPT_LOG_N, MIN_PASSPHRASE_LENGTH, MIN_SCRYPT_LOG_N }
export const MAX_KEY_FILE_BYTES = 16 * 1024
const SALT_BYTES = 16
const NONCE_BYTES = 12
const KEY_BYTES = 32
const TAG_BYTES = 16

export type KeyRole = 'root' | 'update' | 'auth'

export class KeystoreError extends OperationError {
  override readonly name = 'KeystoreError'
}

/** A sealed key file, as written by `sealKey`; `openKey` refuses anything else. */
export const keyFileSchema = z.strictObject({
  format: z.literal(KEY_FILE_FORMAT),
  role: z.enum(['root', 'update', 'auth']),
  publicKey: z.string().min(1).max(128),
  kdf: z.strictObject({
    name: z.literal('scrypt'),
    logN: z.number().int().min(MIN_SCRYPT_LOG_N).max(MAX_SCRYPT_LOG_N),
    r: z.literal(SCRYPT_R),
    p: z.literal(SCRYPT_P),
    salt: z.string().max(64)
  }),
  cipher: z.strictObject({ name: z.literal('aes-256-gcm'), nonce: z.string().max(64) }),
  ciphertext: z.string().max(MAX_KEY_FILE_BYTES)
})
export type KeyFile = z.infer<typeof keyFileSchema>

export interface SealOptions {
  /** scrypt cost exponent; the default suits people, tests may lower it (never below MIN_SCRYPT_LOG_N). */
  logN?: number
}

function checkPassphrase (passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new KeystoreError('weak_passphrase', `the passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`)
  }
  if (passphrase.length > MAX_PASSPHRASE_LENGTH) {
    throw new KeystoreError('passphrase_too_long', `the passphrase may have at most ${MAX_PASSPHRASE_LENGTH} characters`)
  }
}

async function deriveKey (passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFKC'), salt, KEY_BYTES, { N, r: SCRYPT_R, p: SCRYPT_P, maxmem: 256 * N * SCRYPT_R }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(key)
    })
  })
}

function associatedData (file: Omit<KeyFile, 'ciphertext'>): Buffer {
  return Buffer.from(JSON.stringify([file.format, file.role, file.publicKey, file.kdf, file.cipher]))
}

/** Encrypts a private key under a passphrase. */
export async function sealKey (key: Ed25519PrivateKey, role: KeyRole, passphrase: string, options: SealOptions = {}): Promise<KeyFile> {
  checkPassphrase(passphrase)
  const logN = options.logN ?? DEFAULT_SCRYPT_LOG_N
  if (logN < MIN_SCRYPT_LOG_N || logN > MAX_SCRYPT_LOG_N) throw new KeystoreError('bad_kdf_cost', `scrypt cost must be 2^${MIN_SCRYPT_LOG_N}..2^${MAX_SCRYPT_LOG_N}`)
  const salt = randomBytes(SALT_BYTES)
  const nonce = randomBytes(NONCE_BYTES)
  const header = {
    format: KEY_FILE_FORMAT,
    role,
    publicKey: ed25519ToMultikey(key.publicKey),
    kdf: { name: 'scrypt', logN, r: SCRYPT_R, p: SCRYPT_P, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', nonce: nonce.toString('base64') }
  } as const
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, logN), nonce)
  cipher.setAAD(associatedData(header))
  const sealed = Buffer.concat([cipher.update(privateKeyToProtobuf(key)), cipher.final(), cipher.getAuthTag()])
  return { ...header, kdf: { ...header.kdf }, cipher: { ...header.cipher }, ciphertext: sealed.toString('base64') }
}

/** Decrypts a key file. A wrong passphrase and a tampered file are the same failure: `wrong_passphrase`. */
export async function openKey (file: unknown, passphrase: string): Promise<Ed25519PrivateKey> {
  const parsed = keyFileSchema.safeParse(file)
  if (!parsed.success) throw new KeystoreError('malformed_key_file', 'not an ipidd key file (or made with unsafe parameters)')
  const { ciphertext, ...header } = parsed.data
  const sealed = Buffer.from(ciphertext, 'base64')
  if (sealed.length <= TAG_BYTES) throw new KeystoreError('malformed_key_file', 'the key file holds no key')
  let plain: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', await deriveKey(passphrase, Buffer.from(header.kdf.salt, 'base64'), header.kdf.logN), Buffer.from(header.cipher.nonce, 'base64'))
    decipher.setAAD(associatedData(header))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()])
  } catch {
    throw new KeystoreError('wrong_passphrase', 'wrong passphrase, or the key file was altered')
  }
  const key = privateKeyFromProtobuf(plain)
  plain.fill(0)
  if (key.type !== 'Ed25519' || ed25519ToMultikey(key.publicKey) !== header.publicKey) {
    throw new KeystoreError('malformed_key_file', 'the key file does not hold the key it names')
  }
  return key
}

export function readKeyFile (path: string): unknown {
  const text = readFileSync(path, 'utf8')
  if (text.length > MAX_KEY_FILE_BYTES) throw new KeystoreError('malformed_key_file', `${path} is too large to be a key file`)
  try {
    return JSON.parse(text)
  } catch {
    throw new KeystoreError('malformed_key_file', `${path} is not JSON`)
  }
}

/** The temporary files of `writeFileAtomic`: `<file>.<pid>.<8 hex>.tmp`. */
const ATOMIC_TEMP_RE = /^.+\.\d+\.[0-9a-f]{8}\.tmp$/

/**
 * Writes a file atomically with mode 0600: a crash leaves either the old content or the new. A write that fails
 * (a full disk) removes its temporary file; one cut short by a crash leaves it, for `removeStaleTemps`.
 */
export function writeFileAtomic (path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(temp, 'wx', 0o600)
  try {
    try {
      writeSync(fd, content)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/**
 * Removes the temporary files that `writeFileAtomic` left in `dir` and, `depth` levels down, its folders (a
 * process killed mid-write). Only the data directory's owner may call it, and only while no write is under way
 * (the daemon at start, holding daemon.lock). Returns the paths removed.
 */
export function removeStaleTemps (dir: string, depth: number): string[] {
  const removed: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return removed
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isFile() && ATOMIC_TEMP_RE.test(entry.name)) {
      rmSync(path, { force: true })
      removed.push(path)
    } else if (entry.isDirectory() && depth > 0) {
      removed.push(...removeStaleTemps(path, depth - 1))
    }
  }
  return removed
}
