/**
 * spec/key-formats.md against the code, so that they cannot drift apart: the page's Node.js recipe (node:crypto
 * alone, taken from the page as it is) opens the key files the keystore seals, every key of a real backup and of a
 * real cold key file, in a separate Node process; the page's example key file opens with the keystore and holds
 * the key it says; its AAD line is the one the rule gives; the field table names exactly the members the keystore
 * accepts, and every member a real identity file has. The Python recipe runs too where python3 has `cryptography`.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ed25519ToMultikey } from '../../src/did/keys.ts'
import { Identities } from '../../src/identity/identities.ts'
import { KEY_FILE_FORMAT, MIN_SCRYPT_LOG_N, keyFileSchema, openKey, sealKey } from '../../src/identity/keystore.ts'
import { RecordNotFoundError } from '../../src/ipfs/backend.ts'
import type { IpfsBackend } from '../../src/ipfs/backend.ts'
import type { KeyFile } from '../../src/identity/keystore.ts'

const SPEC = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../spec/key-formats.md'), 'utf8')
const PASS = 'Straße köln: a passphrase ﬁ' // NFKC changes it ("ﬁ" → "fi"): the recipe must normalise as the keystore does
const dir = mkdtempSync(join(tmpdir(), 'ipidd-key-formats-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function section (start: RegExp, end: RegExp): string {
  const from = SPEC.search(start)
  expect(from, `spec/key-formats.md has ${String(start)}`).toBeGreaterThanOrEqual(0)
  const rest = SPEC.slice(from)
  return rest.slice(0, rest.search(end))
}

/** The fenced code of the first block after `marker`. */
function codeAfter (marker: string, language: string): string {
  return new RegExp(`${marker}[^]*?\`\`\`${language}\\n([^]*?)\`\`\``).exec(SPEC)?.[1] ?? ''
}

const NODE_RECIPE = /<!-- recipe:node:start -->\n```js\n([^]*?)```\n<!-- recipe:node:end -->/.exec(SPEC)?.[1] ?? ''
const EXAMPLE = JSON.parse(codeAfter('<!-- example:key-file -->', 'json')) as KeyFile

/** Opens sealed key files with the page's recipe alone, in a separate Node process: seed and public key, hex. */
function openWithRecipe (files: unknown[], passphrase: string): Array<{ seed: string, publicKey: string } | { error: string }> {
  const recipe = join(dir, 'recipe.mjs')
  writeFileSync(recipe, NODE_RECIPE)
  const script = `import { openIpiddKey } from ${JSON.stringify(pathToFileURL(recipe).href)}
const files = JSON.parse(process.env.FILES)
console.log(JSON.stringify(files.map(f => {
  try { const { seed, publicKey } = openIpiddKey(f, process.env.PASSPHRASE); return { seed: seed.toString('hex'), publicKey: publicKey.toString('hex') } }
  catch (err) { return { error: err.message } }
})))`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FILES: JSON.stringify(files), PASSPHRASE: passphrase }, encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout) as Array<{ seed: string, publicKey: string } | { error: string }>
}

/** What the keystore itself opens from a sealed file, as the recipe reports it. */
async function opened (file: unknown, passphrase = PASS): Promise<{ seed: string, publicKey: string }> {
  const key = await openKey(file, passphrase)
  return { seed: Buffer.from(key.raw.subarray(0, 32)).toString('hex'), publicKey: Buffer.from(key.publicKey.raw).toString('hex') }
}

/** Blocks in memory; no network: enough for Identities to create, change and back up. */
function memoryBackend (): IpfsBackend {
  const blocks = new Map<string, Uint8Array>()
  const backend: Pick<IpfsBackend, 'putBlock' | 'getBlock' | 'putRecord' | 'getRecord'> = {
    putBlock: async (cid, bytes) => { blocks.set(cid.toString(), bytes) },
    getBlock: async cid => blocks.get(cid.toString()) ?? Promise.reject(new Error('no block')),
    putRecord: async () => {},
    getRecord: async () => { throw new RecordNotFoundError('offline') }
  }
  return backend as IpfsBackend
}

/** A real identity, changed once: its identity file, key files, backup and cold key file are what the page describes. */
let identities: Identities
beforeAll(async () => {
  identities = new Identities({ dataDir: join(dir, 'data'), backend: memoryBackend(), seal: { logN: MIN_SCRYPT_LOG_N } })
  await identities.create({ name: 'alice', passphrase: PASS })
  await identities.change('alice', PASS, { kind: 'add-key', purposes: ['assertionMethod'] })
})

describe('spec/key-formats.md', () => {
  it('the Node.js recipe uses node:crypto alone, and opens what the keystore seals (members in any order) as the keystore does', async () => {
    expect(NODE_RECIPE).toContain('export function openIpiddKey')
    expect([...NODE_RECIPE.matchAll(/^import .* from '([^']+)'/gm)].map(m => m[1])).toEqual(['node:crypto'])
    const sealed = await Promise.all(['root', 'update', 'auth'].map(async role => sealKey(await generateKeyPair('Ed25519'), role as 'root', PASS, { logN: MIN_SCRYPT_LOG_N })))
    // The same file with its members in another order: the AAD is built in the spec's order, not the file's.
    const [first] = sealed as [KeyFile]
    const reordered = { ciphertext: first.ciphertext, cipher: { nonce: first.cipher.nonce, name: first.cipher.name }, kdf: { salt: first.kdf.salt, p: first.kdf.p, r: first.kdf.r, logN: first.kdf.logN, name: first.kdf.name }, publicKey: first.publicKey, role: first.role, format: first.format }
    // An edited header (the role) fails in both, as a wrong passphrase does.
    const edited = { ...first, role: 'auth' }
    const results = openWithRecipe([...sealed, reordered, edited], PASS)
    expect(results.slice(0, 4)).toEqual(await Promise.all([...sealed, reordered].map(async f => opened(f))))
    expect(results[4]).toEqual({ error: 'Unsupported state or unable to authenticate data' })
    await expect(openKey(edited, PASS)).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    expect(openWithRecipe([first], `${PASS}x`)).toEqual([{ error: 'Unsupported state or unable to authenticate data' }])
  })

  it('the recipe opens every key of a real backup and of a real cold key file, and each is the key its publicKey names', async () => {
    const backup = JSON.parse(identities.exportBackup('alice')) as { format: string, identity: { keys: { auth: Array<{ file: string, publicKey: string }> } }, keys: Record<string, KeyFile> }
    expect(backup.format).toBe('ipidd-backup/1')
    // The root key, the update key the head lists and the committed next one, the document keys.
    expect(Object.keys(backup.keys).sort()).toEqual(['auth-1.key', 'auth-2.key', 'root.key', 'update-2.key', 'update-3.key'])
    const cold = await identities.exportUpdateKeys('alice', PASS)
    expect(cold.format).toBe('ipidd-update-keys/1')
    const files = [...Object.values(backup.keys), ...cold.keys]
    const results = openWithRecipe(files, PASS)
    expect(results).toEqual(await Promise.all(files.map(async f => opened(f))))
    for (const [i, file] of files.entries()) {
      expect(ed25519ToMultikey(Buffer.from((results[i] as { publicKey: string }).publicKey, 'hex'))).toBe(file.publicKey)
    }
    // A document key found through the identity file, as §3 says.
    for (const key of backup.identity.keys.auth) expect(backup.keys[key.file]?.publicKey).toBe(key.publicKey)
  })

  it('the example key file opens with the keystore and holds the RFC 8037 key; its AAD line is the rule applied to it', async () => {
    const key = await opened(EXAMPLE, 'correct horse battery staple')
    expect(Buffer.from(key.seed, 'hex').toString('base64url')).toBe('nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A')
    expect(Buffer.from(key.publicKey, 'hex').toString('base64url')).toBe('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo')
    const { format, role, publicKey, kdf, cipher } = EXAMPLE
    const aadLine = /\n {3}```\n {3}(\[.*\])\n {3}```/.exec(section(/### 1\.2/, /\n## 2\./))?.[1]
    expect(aadLine).toBe(JSON.stringify([format, role, publicKey, { name: kdf.name, logN: kdf.logN, r: kdf.r, p: kdf.p, salt: kdf.salt }, { name: cipher.name, nonce: cipher.nonce }]))
  })

  it('the field tables name exactly the members of a key file, and every member of a real identity file', async () => {
    const members = (table: string): string[] => [...table.matchAll(/^\| `([a-zA-Z.]+)` \|/gm)].map(m => m[1]!).sort()
    const shape = keyFileSchema.shape
    const keyFileMembers = Object.entries(shape).flatMap(([name, value]) => 'shape' in value ? Object.keys((value as { shape: object }).shape).map(inner => `${name}.${inner}`) : [name])
    expect(members(section(/### 1\.1 Fields/, /\n### 1\.2/))).toEqual(keyFileMembers.sort())
    expect(EXAMPLE.format).toBe(KEY_FILE_FORMAT)
    const identity = JSON.parse(readFileSync(join(dir, 'data', 'identities', 'alice', 'identity.json'), 'utf8')) as Record<string, unknown>
    const present = Object.entries(identity).flatMap(([name, value]) => name === 'keys' ? Object.keys(value as object).map(inner => `keys.${inner}`) : [name])
    expect(members(section(/## 2\. Identity file/, /\n## 3\./))).toEqual(expect.arrayContaining(present))
  })

  const python = spawnSync('python3', ['-c', 'import cryptography, hashlib; hashlib.scrypt'], { encoding: 'utf8' })
  it.skipIf(python.status !== 0)('the Python recipe (hashlib and cryptography) opens the example and sealed files alike', async () => {
    const sealed = await sealKey(await generateKeyPair('Ed25519'), 'auth', PASS, { logN: MIN_SCRYPT_LOG_N })
    const script = `${codeAfter('### 5.2 Python', 'python')}
import os, sys
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, NoEncryption
out = []
for file, passphrase in json.load(sys.stdin):
    key = open_ipidd_key(file, passphrase)
    out.append(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex())
print(json.dumps(out))`
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify([[EXAMPLE, 'correct horse battery staple'], [sealed, PASS]]), encoding: 'utf8' })
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual([(await opened(EXAMPLE, 'correct horse battery staple')).seed, (await opened(sealed)).seed])
  })
})
