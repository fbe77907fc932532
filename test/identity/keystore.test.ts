import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { KeystoreError, MIN_SCRYPT_LOG_N, openKey, readKeyFile, sealKey, writeFileAtomic } from '../../src/identity/keystore.ts'
import { seededKey } from '../helpers/fixtures.ts'

// The cheapest cost files may use: these tests check the format, not the KDF's strength.
const fast = { logN: MIN_SCRYPT_LOG_N }
const PASS = 'correct horse battery staple'

describe('keystore', () => {
  it('seals and opens a key; the file names the public key but never holds the private key in clear', async () => {
    const key = await seededKey(1)
    const file = await sealKey(key, 'root', PASS, fast)
    const text = JSON.stringify(file)
    expect(text).not.toContain(Buffer.from(key.raw).toString('base64'))
    expect(text).not.toContain(Buffer.from(key.raw).toString('hex'))
    expect((await openKey(file, PASS)).equals(key)).toBe(true)
  })

  it('a wrong passphrase and any edit to the file fail alike, without saying more', async () => {
    const key = await seededKey(2)
    const file = await sealKey(key, 'update', PASS, fast)
    await expect(openKey(file, 'wrong passphrase')).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    await expect(openKey({ ...file, role: 'auth' }, PASS)).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    const other = await seededKey(3)
    await expect(openKey({ ...file, publicKey: (await sealKey(other, 'update', PASS, fast)).publicKey }, PASS)).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    const flipped = Buffer.from(file.ciphertext, 'base64')
    flipped[0] = (flipped[0] ?? 0) ^ 1
    await expect(openKey({ ...file, ciphertext: flipped.toString('base64') }, PASS)).rejects.toMatchObject({ reason: 'wrong_passphrase' })
  })

  it('refuses weak passphrases, unsafe KDF parameters and things that are not key files', async () => {
    const key = await seededKey(4)
    await expect(sealKey(key, 'auth', 'short', fast)).rejects.toBeInstanceOf(KeystoreError)
    const file = await sealKey(key, 'auth', PASS, fast)
    await expect(openKey({ ...file, kdf: { ...file.kdf, logN: 4 } }, PASS)).rejects.toMatchObject({ reason: 'malformed_key_file' })
    await expect(openKey({ ...file, kdf: { ...file.kdf, logN: 30 } }, PASS)).rejects.toMatchObject({ reason: 'malformed_key_file' })
    await expect(openKey('nope', PASS)).rejects.toMatchObject({ reason: 'malformed_key_file' })
  })

  it('writes files 0600, atomically, leaving no temporary files behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-keystore-'))
    const path = join(dir, 'keys', 'root.key')
    writeFileAtomic(path, JSON.stringify(await sealKey(await seededKey(5), 'root', PASS, fast)))
    writeFileAtomic(path, JSON.stringify(await sealKey(await seededKey(6), 'root', PASS, fast)))
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700)
    expect(readdirSync(join(dir, 'keys'))).toEqual(['root.key'])
    expect((await openKey(readKeyFile(path), PASS)).equals(await seededKey(6))).toBe(true)
    expect(JSON.parse(readFileSync(path, 'utf8')).format).toBe('ipidd-key/1')
  })
})
