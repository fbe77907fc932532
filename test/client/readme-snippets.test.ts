/**
 * The README's "Use ipidd from an app" snippets, run as written (the daemon's URL put in for the default one) by
 * apps in their own processes, against a real daemon on 127.0.0.1. ipidd comes packed (`npm pack` of a build):
 * the remote and verify snippets run in an app that has only ipidd, did-jwt and did-resolver — a process that
 * imports only `ipidd/resolver` and did-jwt verifies a JWT against the daemon's HTTP API; the in-process snippet
 * runs in an app that also installed the embedded node's packages.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToBase64url, createJWT } from 'did-jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { createLogger } from '../../src/log.ts'
import { runNode } from '../helpers/cli.ts'
import { EMBEDDED_NODE_PACKAGES } from '../../src/ipfs/helia.ts'
import { REPO, appWith, packIpidd } from '../helpers/package.ts'
import type { Daemon } from '../../src/daemon.ts'
import type { IdentitySummary } from '../../src/identity/identities.ts'

const PASSPHRASE = 'readme snippets passphrase'
/** The daemon URL the snippets are written with (the default); the test's daemon listens elsewhere. */
const SNIPPET_URL = 'http://127.0.0.1:8080'
const AUDIENCE = 'https://app.example'
/** What a snippet leaves to print: the names it may declare. */
const OUTPUTS = ['didDocument', 'didDocumentMetadata', 'issuer', 'signer', 'versionId', 'payload']

let daemon: Daemon
let alice: IdentitySummary
let keyId: string
let jwt: string
let lightApp: string
let fullApp: string
/** Every package but the embedded node's optional ones: what `npm install ipidd` gives a daemon. */
let withoutHelia: string
const dirs: string[] = []

/** The code block under `<!-- app-snippet:NAME -->` in the README. */
function snippet (name: string): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8')
  const match = new RegExp(`<!-- app-snippet:${name} -->\\n\`\`\`js\\n([\\s\\S]*?)\\n\`\`\``).exec(readme)
  if (match === null) throw new Error(`no app-snippet:${name} in the README`)
  return match[1]!
}

/** Runs a snippet as a module of `app`, the variables it leaves to the reader defined first; what it declared. */
async function runSnippet (app: string, name: string, given: Record<string, string>): Promise<{ code: number | null, out?: Record<string, unknown>, stderr: string }> {
  const code = snippet(name)
  const source = [
    ...Object.entries(given).map(([k, v]) => `const ${k} = ${JSON.stringify(v)}`),
    code.replaceAll(`'${SNIPPET_URL}'`, JSON.stringify(daemon.httpUrl)),
    `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(OUTPUTS)}.map(n => [n, eval(\`typeof \${n} === 'undefined' ? undefined : \${n}\`)]))))`
  ].join('\n')
  const file = join(app, `${name}.mjs`)
  writeFileSync(file, source)
  const run = await runNode([file], app, process.env)
  const last = run.stdout.trim().split('\n').at(-1)
  return { code: run.code, stderr: run.stderr, ...(run.code === 0 && last !== undefined ? { out: JSON.parse(last) as Record<string, unknown> } : {}) }
}

beforeAll(async () => {
  const tarball = packIpidd()
  lightApp = appWith(tarball, ['did-jwt', 'did-resolver'])
  fullApp = appWith(tarball, 'all')
  withoutHelia = appWith(tarball, 'all', EMBEDDED_NODE_PACKAGES)
  const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-snippets-'))
  dirs.push(dataDir, lightApp, fullApp, withoutHelia, join(tarball, '..'))
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } })
  daemon = await startDaemon(config, { logger: createLogger('silent'), seal: { logN: MIN_SCRYPT_LOG_N } })
  alice = await daemon.identities.create({ name: 'alice', passphrase: PASSPHRASE })
  const signer = await daemon.identities.documentSigner('alice', { purpose: 'authentication', passphrase: PASSPHRASE })
  keyId = signer.keyId
  jwt = await createJWT({ aud: AUDIENCE, post: 'hello' }, {
    issuer: alice.did,
    signer: async data => bytesToBase64url(await signer.sign(typeof data === 'string' ? new TextEncoder().encode(data) : data))
  }, { alg: 'EdDSA', kid: keyId })
}, 120_000)
afterAll(async () => {
  await daemon?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('README: use ipidd from an app', () => {
  it('the app has nothing but ipidd, did-jwt and did-resolver: no Helia, libp2p or express to lean on', async () => {
    const probe = join(lightApp, 'probe.mjs')
    writeFileSync(probe, "for (const name of ['helia', 'libp2p', 'express', 'multiformats']) { try { await import(name); console.log(name) } catch {} }")
    const run = await runNode([probe], lightApp, process.env)
    expect(run.code).toBe(0)
    expect(run.stdout.trim()).toBe('')
  })

  it('remote: resolves through the daemon\'s HTTP API from a separate process', async () => {
    const { code, out, stderr } = await runSnippet(lightApp, 'remote', { did: alice.did })
    expect(code, stderr).toBe(0)
    expect(out).toMatchObject({ didDocument: { id: alice.did }, didDocumentMetadata: { versionId: alice.versionId } })
  })

  it('verify: a separate process importing only ipidd/resolver and did-jwt verifies the JWT against the daemon', async () => {
    const { code, out, stderr } = await runSnippet(lightApp, 'verify', { jwt })
    expect(code, stderr).toBe(0)
    expect(out).toMatchObject({ issuer: alice.did, signer: keyId, versionId: alice.versionId, payload: { post: 'hello' } })
  })

  it('in process: createNodeResolver dials the daemon\'s node, resolves, and stops', async () => {
    const { code, out, stderr } = await runSnippet(fullApp, 'in-process', { did: alice.did, peer: daemon.node!.multiaddrs()[0]! })
    expect(code, stderr).toBe(0)
    expect(out).toMatchObject({ didDocument: { id: alice.did }, didDocumentMetadata: { versionId: alice.versionId } })
  }, 60_000)

  it('verify, once the issuer is deactivated: refused with reason deactivated', async () => {
    await daemon.identities.change('alice', PASSPHRASE, { kind: 'deactivate' })
    const { code, stderr } = await runSnippet(lightApp, 'verify', { jwt })
    expect(code).not.toBe(0)
    expect(stderr).toContain('JwtVerificationError')
    expect(stderr).toContain("reason: 'deactivated'")
  })
})

describe('the packed ipidd without the embedded node\'s optional packages', () => {
  it('ipid daemon stops at once with one line naming the packages to install and the Kubo alternative (exit 1)', async () => {
    const run = await runNode([join(withoutHelia, 'node_modules/ipidd/dist/cli/main.js'), 'daemon', '--data-dir', join(withoutHelia, 'data'),
      '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0'], withoutHelia, { ...process.env, HOME: withoutHelia })
    expect(run.code, run.stderr).toBe(1)
    const lines = run.stderr.split('\n').filter(line => line !== '' && !line.startsWith('{'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`npm install ${EMBEDDED_NODE_PACKAGES.join(' ')}`)
    expect(lines[0]).toContain('--kubo-url')
  })
})
