/**
 * Issue 11's acceptance, end to end: a daemon in its own process holds alice; `ipid sign` makes a login JWT; an
 * app in a separate process, importing only `ipidd/resolver` and did-jwt, verifies it against the daemon's HTTP
 * API; after `ipid key rotate` a JWT of the rotated-away key is refused and one of the new key verifies; after
 * `ipid deactivate` verification fails saying the DID is deactivated. A detached JWS from `ipid sign --jws`
 * verifies with jose. The daemon restarted without a passphrase holds the keys locked: `ipid sign` asks for it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flattenedVerify, importJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ed25519ToJwk, multikeyToEd25519 } from '../../src/did/keys.ts'
import { runIpid, runNode, spawnDaemon } from '../helpers/cli.ts'
import { APP_BUILD_TIMEOUT_MS, APP_VERIFIER, prepareApp } from '../helpers/app.ts'
import type { App } from '../helpers/app.ts'
import type { DaemonProcess, IpidRun } from '../helpers/cli.ts'

const PASS = 'sign and verify passphrase'
const APP = 'https://app.example'

let dir: string
let dataDir: string
let env: NodeJS.ProcessEnv
let daemon: DaemonProcess
let url: string
let app: App

async function ipid (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<IpidRun> {
  return runIpid(args, dir, { ...env, ...extraEnv })
}

async function start (): Promise<void> {
  daemon = spawnDaemon(['--data-dir', dataDir], { cwd: dir, env })
  url = await daemon.ready
}

async function stop (): Promise<void> {
  daemon.child.kill('SIGTERM')
  expect(await daemon.exited).toBe(0)
}

interface AppVerdict { verified: boolean, reason?: string, message?: string, issuer?: string, signer?: string, versionId?: string, payload?: Record<string, unknown>, didJwt?: string }

/** The app: a process of its own that imports only ipidd/resolver and did-jwt, and asks the daemon's HTTP API. */
async function appVerifies (jwt: string): Promise<AppVerdict> {
  const run = await runNode([APP_VERIFIER, url, jwt, APP], app.dir, env)
  expect(run.code, run.stderr).toBe(0)
  return JSON.parse(run.stdout) as AppVerdict
}

function signed (run: IpidRun): string {
  expect(run.code, run.stderr).toBe(0)
  const jwt = run.stdout.trim()
  expect(jwt).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
  return jwt
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipidd-sign-e2e-'))
  dataDir = join(dir, 'data')
  env = { ...process.env, HOME: dir, IPIDD_DATA: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
  for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP']) delete env[name]
  app = await prepareApp()
  await start()
}, APP_BUILD_TIMEOUT_MS)

afterAll(async () => {
  daemon?.child.kill('SIGKILL')
  app?.cleanup()
  rmSync(dir, { recursive: true, force: true })
})

describe('owners sign, apps verify (end to end)', () => {
  it('sign → verify in an app → rotate → the old key is refused → deactivate → refused as deactivated', { timeout: 120_000 }, async () => {
    const init = await ipid(['init', '--name', 'alice', '--json'], { IPIDD_PASSPHRASE: PASS })
    expect(init.code, init.stderr).toBe(0)
    const did = JSON.parse(init.stdout).did as string

    const first = signed(await ipid(['sign', '--aud', APP, '--nonce', 'n1']))
    const ok = await appVerifies(first)
    expect(ok).toMatchObject({ verified: true, issuer: did, signer: `${did}#auth-1`, didJwt: 'verified', payload: { iss: did, aud: APP, nonce: 'n1' } })
    const checked = await ipid(['verify', first, '--aud', APP, '--json'])
    expect(checked.code, checked.stderr).toBe(0)
    expect(JSON.parse(checked.stdout)).toMatchObject({ verified: true, issuer: did, signer: `${did}#auth-1` })
    expect((await ipid(['verify', first, '--aud', 'https://other.example'])).code).toBe(1)

    const rotate = await ipid(['key', 'rotate', 'alice', '--json'], { IPIDD_PASSPHRASE: PASS })
    expect(rotate.code, rotate.stderr).toBe(0)
    const [added] = JSON.parse(rotate.stdout).added as string[]
    const old = await appVerifies(first)
    expect(old.verified).toBe(false)
    expect(old.reason).toMatch(/^(no_suitable_keys|invalid_signature|kid_mismatch)$/)
    const second = signed(await ipid(['sign', '--aud', APP, '--nonce', 'n2']))
    expect(await appVerifies(second)).toMatchObject({ verified: true, signer: `${did}#${added}`, versionId: JSON.parse(rotate.stdout).versionId })

    const deactivate = await ipid(['deactivate', 'alice', '--yes'], { IPIDD_PASSPHRASE: PASS })
    expect(deactivate.code, deactivate.stderr).toBe(0)
    const dead = await appVerifies(second)
    expect(dead).toMatchObject({ verified: false, reason: 'deactivated' })
    expect(dead.message).toMatch(/deactivated/)
    const refused = await ipid(['verify', second, '--aud', APP])
    expect(refused.code).toBe(1)
    expect(refused.stdout + refused.stderr).toMatch(/deactivated/)
    const noMore = await ipid(['sign', '--aud', APP])
    expect(noMore.code).toBe(1)
    expect(noMore.stderr).toMatch(/deactivated/)
  })

  it('a detached JWS from `ipid sign --jws` verifies with jose and the key the document lists', async () => {
    const init = await ipid(['init', '--name', 'bob', '--json'], { IPIDD_PASSPHRASE: PASS })
    expect(init.code, init.stderr).toBe(0)
    const post = join(dir, 'post.json')
    const text = '{"text":"hello from bob","at":"2026-12-03T12:00:00Z"}\n'
    writeFileSync(post, text)
    const run = await ipid(['sign', 'bob', '--jws', post, '--json'])
    expect(run.code, run.stderr).toBe(0)
    const answer = JSON.parse(run.stdout) as { jws: string, kid: string, purpose: string }
    expect(answer.purpose).toBe('assertionMethod')
    const resolved = await (await fetch(`${url}/1.0/identifiers/${encodeURIComponent(answer.kid.split('#')[0]!)}`)).json() as { didDocument: { verificationMethod: Array<{ id: string, publicKeyMultibase: string }>, assertionMethod: string[] } }
    expect(resolved.didDocument.assertionMethod).toContain(answer.kid)
    const method = resolved.didDocument.verificationMethod.find(m => m.id === answer.kid)!
    const key = await importJWK({ ...ed25519ToJwk(multikeyToEd25519(method.publicKeyMultibase)!), alg: 'EdDSA' }, 'EdDSA')
    const [protectedHeader, , signature] = answer.jws.split('.')
    const verified = await flattenedVerify({ protected: protectedHeader!, payload: Buffer.from(text).toString('base64url'), signature: signature! }, key)
    expect(new TextDecoder().decode(verified.payload)).toBe(text)
    // The plain output is the JWS alone, from stdin too.
    const piped = await runIpid(['sign', 'bob', '--jws', '-'], dir, env, text)
    expect(piped.code, piped.stderr).toBe(0)
    expect(piped.stdout.trim()).toMatch(/^[\w-]+\.\.[\w-]+$/)
  })

  it('a daemon restarted without the passphrase holds the keys locked: ipid sign asks for it', { timeout: 60_000 }, async () => {
    await stop()
    await start()
    const locked = await ipid(['sign', 'bob', '--aud', APP])
    expect(locked.code).toBe(2) // no terminal to ask on, and no IPIDD_PASSPHRASE
    expect(locked.stderr).toMatch(/passphrase/i)
    const opened = signed(await ipid(['sign', 'bob', '--aud', APP], { IPIDD_PASSPHRASE: PASS }))
    expect((await appVerifies(opened)).verified).toBe(true)
    expect((await ipid(['sign', 'bob', '--aud', APP], { IPIDD_PASSPHRASE: 'not the passphrase' })).code).toBe(1)
  })

  it('usage errors: exit 2 before the daemon is asked', async () => {
    for (const args of [['sign', '--ttl', 'soon'], ['sign', '--claim', 'no-equals'], ['sign', '--jws', '-', '--aud', APP], ['verify', 'not-a-jwt'], ['sign', '--purpose', 'everything']]) {
      const run = await ipid(args)
      expect(run.code, args.join(' ')).toBe(2)
    }
  })
})
