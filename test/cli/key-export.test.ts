/**
 * `ipid keys export <name> [file] --key <fragment>` with the real entry point and a real daemon: a JWK export signs,
 * with did-jwt's own EdDSASigner, a JWT the daemon verifies (`POST /1.0/verify`) as the identity's key; a PEM export
 * loads with createPrivateKey and signs for the document's key; an encrypted PEM opens with the passphrase only;
 * `--public` needs no passphrase and matches the document; files are 0600; a private key goes to stdout only when
 * that is no terminal (a file behind stdout is made 0600 first); nothing private is printed with --json; the fragment
 * is typed on a terminal, or `--yes` given; the root and update keys, and every misuse, are refused.
 */
import { spawn } from 'node:child_process'
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EdDSASigner, createJWT } from 'did-jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { multikeyToEd25519 } from '../../src/did/keys.ts'
import { IPID_MAIN, runIpid, spawnDaemon } from '../helpers/cli.ts'
import { runInPty } from '../helpers/pty.ts'
import type { DaemonProcess, IpidRun } from '../helpers/cli.ts'

const PASS = 'key export test passphrase'
const dir = mkdtempSync(join(tmpdir(), 'ipidd-key-export-'))
const dataDir = join(dir, 'data')
const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, IPIDD_DATA: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'NO_COLOR']) delete env[name]
const withPassphrase = { IPIDD_PASSPHRASE: PASS }

let daemon: DaemonProcess
let url: string
let did: string
/** The publicKeyMultibase of #auth-1 in the resolved document. */
let auth1: string

async function ipid (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<IpidRun> {
  return runIpid(args, dir, { ...env, ...extraEnv })
}

function expectRefusal (run: IpidRun, code: number, reason: string, words: RegExp): void {
  expect(run.code, run.stderr).toBe(code)
  expect(JSON.parse(run.stdout)).toMatchObject({ error: { exitCode: code, reason } })
  expect(run.stderr).toMatch(words)
}

const bytes = (b64url: string): Buffer => Buffer.from(b64url, 'base64url')
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8)

beforeAll(async () => {
  daemon = spawnDaemon([], { cwd: dir, env })
  url = await daemon.ready
  const alice = await ipid(['init', '--name', 'alice', '--json'], withPassphrase)
  expect(alice.code, alice.stderr).toBe(0)
  did = (JSON.parse(alice.stdout) as { did: string }).did
  const resolved = await (await fetch(`${url}/1.0/identifiers/${did}`)).json() as { didDocument: { verificationMethod: Array<{ id: string, publicKeyMultibase: string }> } }
  auth1 = resolved.didDocument.verificationMethod.find(m => m.id === `${did}#auth-1`)!.publicKeyMultibase
}, 60_000)

afterAll(async () => {
  daemon?.child.kill('SIGTERM')
  await daemon?.exited
  rmSync(dir, { recursive: true, force: true })
})

describe('ipid keys export --key', { timeout: 30_000 }, () => {
  it('a JWK export (0600, after --yes) signs, with did-jwt\'s EdDSASigner, a JWT the daemon verifies as #auth-1; --json prints nothing private', async () => {
    const file = join(dir, 'alice-auth-1.jwk')
    const run = await ipid(['keys', 'export', 'alice', file, '--key', 'auth-1', '--yes', '--json'], withPassphrase)
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({
      name: 'alice', did, keyId: `${did}#auth-1`, fragment: 'auth-1', format: 'jwk', public: false, encrypted: false, publicKeyMultibase: auth1, file
    })
    expect(mode(file)).toBe('600')
    const jwk = JSON.parse(readFileSync(file, 'utf8')) as { kty: string, crv: string, x: string, d: string, kid: string }
    expect(jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(multikeyToEd25519(auth1)!.raw).toString('base64url'), d: expect.stringMatching(/^[\w-]{43}$/), kid: `${did}#auth-1` })
    expect(run.stdout + run.stderr).not.toContain(jwk.d)

    const jwt = await createJWT({ sub: did, nonce: 'exported key' }, { issuer: did, signer: EdDSASigner(bytes(jwk.d)), alg: 'EdDSA' }, { kid: jwk.kid })
    const verified = await fetch(`${url}/1.0/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jwt, proofPurpose: 'authentication' }) })
    expect(verified.status).toBe(200)
    expect(await verified.json()).toMatchObject({ verified: true, issuer: did, signer: `${did}#auth-1`, payload: { nonce: 'exported key' } })
  })

  it('a PEM export loads with createPrivateKey and signs for the document\'s key; an encrypted PEM opens with the passphrase only', async () => {
    const [plain, encrypted] = [join(dir, 'alice.pem'), join(dir, 'alice.enc.pem')]
    const runs = await Promise.all([
      ipid(['keys', 'export', 'alice', plain, '--key', '#auth-1', '--format', 'pem', '--yes'], withPassphrase),
      ipid(['keys', 'export', 'alice', encrypted, '--key', `${did}#auth-1`, '--format', 'pem', '--encrypt', '--yes'], withPassphrase)
    ])
    for (const run of runs) expect(run.code, run.stderr).toBe(0)
    expect(runs[0]!.stdout).toMatch(/✓ private key #auth-1 of alice written to .*alice\.pem \(PKCS#8 PEM, mode 0600\)/)
    expect(runs[1]!.stdout).toMatch(/\(encrypted PKCS#8 PEM, mode 0600\)/)
    expect([mode(plain), mode(encrypted)]).toEqual(['600', '600'])
    const data = Buffer.from('a post signed in another wallet')
    const documentKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(multikeyToEd25519(auth1)!.raw).toString('base64url') }, format: 'jwk' })
    const key = createPrivateKey(readFileSync(plain))
    expect(verify(null, data, documentKey, sign(null, data, key))).toBe(true)
    const pem = readFileSync(encrypted, 'utf8')
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
    expect(() => createPrivateKey(pem)).toThrow()
    expect(() => createPrivateKey({ key: pem, passphrase: 'not the passphrase' })).toThrow()
    expect(createPrivateKey({ key: pem, passphrase: PASS }).export({ format: 'jwk' })).toEqual(key.export({ format: 'jwk' }))
  })

  it('--public needs no passphrase nor confirmation, and is the document\'s key: a JWK on stdout, PEM in --json or a file', async () => {
    const pubFile = join(dir, 'alice-auth-1.pub.pem')
    const [jwkRun, jsonRun, fileRun] = await Promise.all([
      ipid(['keys', 'export', 'alice', '--key', 'auth-1', '--public']),
      ipid(['keys', 'export', 'alice', '--key', 'auth-1', '--public', '--format', 'pem', '--json']),
      ipid(['keys', 'export', 'alice', pubFile, '--key', 'auth-1', '--public', '--format', 'pem'])
    ])
    for (const run of [jwkRun, jsonRun, fileRun]) expect(run.code, run.stderr).toBe(0)
    const raw = Buffer.from(multikeyToEd25519(auth1)!.raw)
    expect(JSON.parse(jwkRun.stdout)).toEqual({ kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url'), kid: `${did}#auth-1` })
    const result = JSON.parse(jsonRun.stdout) as { key: string, public: boolean, publicKeyMultibase: string }
    expect([result.public, result.publicKeyMultibase]).toEqual([true, auth1])
    for (const pem of [result.key, readFileSync(pubFile, 'utf8')]) {
      expect(bytes(createPublicKey(pem).export({ format: 'jwk' }).x!)).toEqual(raw)
    }
  })

  it('a private key goes to stdout only when that is no terminal; a file behind stdout is made 0600 before it is written', async () => {
    const piped = await ipid(['keys', 'export', 'alice', '--key', 'auth-1', '--yes'], withPassphrase)
    expect(piped.code, piped.stderr).toBe(0)
    expect(JSON.parse(piped.stdout)).toMatchObject({ kty: 'OKP', d: expect.any(String) })
    expect(piped.stderr).toContain(`private key ${did}#auth-1 written to stdout`)

    const redirected = join(dir, 'redirected.jwk')
    const fd = openSync(redirected, 'w', 0o644)
    const child = spawn(process.execPath, [IPID_MAIN, 'keys', 'export', 'alice', '--key', 'auth-1', '--yes'], { cwd: dir, env: { ...env, ...withPassphrase }, stdio: ['ignore', fd, 'ignore'] })
    expect(await new Promise(resolve => child.once('exit', resolve))).toBe(0)
    closeSync(fd)
    expect(mode(redirected)).toBe('600')
    expect(JSON.parse(readFileSync(redirected, 'utf8'))).toEqual(JSON.parse(piped.stdout))

    const terminal = runInPty(`'${process.execPath}' '${IPID_MAIN}' keys export alice --key auth-1 --yes`, { cwd: dir, env: { ...env, ...withPassphrase } })
    expect(await terminal.exited).toBe(2)
    expect(terminal.output()).toMatch(/a private key is not printed on a terminal .*give a FILE, or redirect stdout/)
    expect(terminal.output()).not.toMatch(/"d"/)
  })

  it('on a terminal the fragment is typed: a wrong one writes nothing (exit 1); the right one, then the passphrase, writes the key', async () => {
    const file = join(dir, 'typed.jwk')
    const command = `'${process.execPath}' '${IPID_MAIN}' keys export alice '${file}' --key auth-1`
    const wrong = runInPty(command, { cwd: dir, env })
    await wrong.waitFor('Type the key\'s fragment (auth-1) to confirm: ')
    wrong.type('auth-2')
    expect(await wrong.exited).toBe(1)
    expect(wrong.output()).toMatch(/the fragment typed does not match: nothing was written/)
    expect(existsSync(file)).toBe(false)

    const right = runInPty(command, { cwd: dir, env })
    await right.waitFor(/private key .*#auth-1 of alice in plain text to .*typed\.jwk/)
    await right.waitFor('to confirm: ')
    right.type('auth-1')
    await right.waitFor('Passphrase for alice: ')
    right.type(PASS)
    expect(await right.exited, right.output()).toBe(0)
    expect(mode(file)).toBe('600')
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ kid: `${did}#auth-1` })
  })

  it('refused, with nothing written: no confirmation without a terminal, the root and update keys, flags without --key, misuse, a wrong passphrase', async () => {
    const file = join(dir, 'refused.jwk')
    const existing = join(dir, 'alice-auth-1.jwk')
    const before = readFileSync(existing, 'utf8')
    const runs = await Promise.all([
      ipid(['keys', 'export', 'alice', file, '--key', 'auth-1', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'root', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'update-2', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--format', 'pem', '--public', '--json']),
      ipid(['keys', 'export', 'alice', '--json']),
      ipid(['keys', 'export', 'alice', '--key', 'auth-1', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'auth-1', '--encrypt', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', existing, '--key', 'auth-1', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'auth-9', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'did:ipid:k51qzi5uqu5dlother#auth-1', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'bob', file, '--key', 'auth-1', '--yes', '--json'], withPassphrase),
      ipid(['keys', 'export', 'alice', file, '--key', 'auth-1', '--yes', '--json'], { IPIDD_PASSPHRASE: 'not the passphrase' })
    ])
    expectRefusal(runs[0]!, 2, 'confirmation_needed', /no terminal to ask it on: pass --yes to confirm/)
    expectRefusal(runs[1]!, 2, 'not_exportable', /#root is the root key: .*never exported in plain text: `ipid keys export alice FILE` writes a backup/)
    expectRefusal(runs[2]!, 2, 'not_exportable', /#update-2 is an update key: .*`ipid keys cold alice` moves the update keys/)
    expectRefusal(runs[3]!, 2, 'key_needed', /--format, --public apply to one key: add --key FRAGMENT/)
    expectRefusal(runs[4]!, 2, 'file_needed', /give the file to write the backup to/)
    expectRefusal(runs[5]!, 2, 'file_needed', /with --json stdout carries the JSON result: give the FILE/)
    expectRefusal(runs[6]!, 2, 'bad_options', /--encrypt applies to a private key in --format pem/)
    expectRefusal(runs[7]!, 2, 'file_exists', /already exists: choose another file, or pass --force/)
    expectRefusal(runs[8]!, 1, 'unknown_key', /alice has no key #auth-9 in its document \(it has #auth-1\)/)
    expectRefusal(runs[9]!, 2, 'wrong_did', /is a key of another DID than alice's/)
    expectRefusal(runs[10]!, 1, 'unknown_identity', /no identity named "bob" in .*: `ipid ls` lists the identities/)
    expectRefusal(runs[11]!, 1, 'wrong_passphrase', /wrong passphrase/)
    expect(existsSync(file)).toBe(false)
    expect(readFileSync(existing, 'utf8')).toBe(before)
    // --force replaces the file (through the keystore's atomic write, 0600).
    const forced = await ipid(['keys', 'export', 'alice', existing, '--key', 'auth-1', '--yes', '--force', '--json'], withPassphrase)
    expect(forced.code, forced.stderr).toBe(0)
    expect(mode(existing)).toBe('600')
  })
})
