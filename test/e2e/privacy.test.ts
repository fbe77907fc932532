/**
 * Issue 12, "Privacy", against the real daemon process:
 * - `/1.0/testIdentifiers` lists configured DIDs only (none by default), never the daemon's own identities;
 * - identities do not carry the daemon's PeerId (`#libp2p`) unless made with `ipid init --peer-service`, so the
 *   identities of one daemon are not linked by it for good;
 * - `ipid service add … 'javascript:alert(1)'` (and `data:`, `vbscript:`, however disguised) is refused;
 * - `/metrics` and `/readyz` answer loopback clients only on the main listener, also when it is bound to
 *   0.0.0.0 (a client in a network namespace of its own); the probes listener (`--probes-port`) serves them,
 *   and nothing else, to whoever reaches it.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { IPID_MAIN, runIpid } from '../helpers/cli.ts'
import { daemonSession } from '../helpers/daemon-session.ts'
import { createNamespacePair, namespaceSupport, SERVER_ADDRESS } from '../helpers/netns.ts'
import type { IpidRun } from '../helpers/cli.ts'

const PASS = 'privacy passphrase'
/** Starts and key derivations on a busy machine. */
const E2E_TIMEOUT_MS = 180_000
/** The daemon in a namespace has this long to say it is ready. */
const READY_TIMEOUT_MS = 60_000

const dir = mkdtempSync(join(tmpdir(), 'ipidd-privacy-'))
const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn', IPIDD_PASSPHRASE: PASS }
for (const name of ['IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_TEST_IDENTIFIERS', 'IPIDD_PROBES_ACCESS', 'IPIDD_PROBES_PORT', 'IPIDD_PROBES_HOST', 'IPIDD_TRUST_PROXY']) delete env[name]
const { start, stop, track, killAll } = daemonSession(dir, env)

afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

async function json (args: string[]): Promise<any> {
  const run = await runIpid([...args, '--json'], dir, env)
  expect(run.code, `${run.args.join(' ')}: ${run.stderr}`).toBe(0)
  return JSON.parse(run.stdout)
}

/** The probes listener's URL from the banner. */
function probesUrlOf (stdout: string): string {
  const url = /probes\s+(http:\/\/\S+)/.exec(stdout)?.[1]
  expect(url, stdout).toBeDefined()
  return url!
}

describe('what a daemon tells about its identities', () => {
  it('lists configured test identifiers only, adds #libp2p only when asked, and refuses unsafe endpoint URIs', async () => {
    const dataDir = join(dir, 'own')
    let daemon = await start(dataDir)
    let url = await daemon.ready
    const alice = await json(['init', '--name', 'alice', '--data-dir', dataDir])
    const bob = await json(['init', '--name', 'bob', '--data-dir', dataDir])

    // Nobody learns which DIDs this daemon holds from /1.0/testIdentifiers.
    expect(await (await fetch(`${url}/1.0/testIdentifiers`)).json()).toEqual({ ipid: [] })

    // Two identities of one daemon share nothing that names the daemon.
    for (const name of ['alice', 'bob']) expect((await json(['show', name, '--data-dir', dataDir])).services).toEqual([])
    const resolved = await (await fetch(`${url}/1.0/identifiers/${encodeURIComponent(bob.did)}`)).json() as { didDocument: { service?: unknown } }
    expect(resolved.didDocument.service).toBeUndefined()
    const carol = await json(['init', '--name', 'carol', '--peer-service', '--data-dir', dataDir])
    const status = await json(['status', '--data-dir', dataDir])
    expect((await json(['show', 'carol', '--data-dir', dataDir])).services).toEqual([{ fragment: 'libp2p', type: 'LibP2PNode', serviceEndpoint: { peerId: status.ipfs.peerId } }])

    // Endpoints that run or inline content where they are shown as a link are refused in new versions.
    for (const endpoint of ['javascript:alert(1)', 'JaVaScRiPt:alert(document.domain)', 'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox(1)', '{"href":"java\\tscript:alert(1)"}', '{"a":{"b":[" data:text/html,x"]}}']) {
      const refused: IpidRun = await runIpid(['service', 'add', 'site', 'LinkedDomains', endpoint, '--name', 'alice', '--data-dir', dataDir], dir, env)
      expect(refused.code, endpoint).not.toBe(0)
      expect(refused.stderr, endpoint).toMatch(/unsafe_uri|is refused/)
    }
    expect((await json(['show', 'alice', '--data-dir', dataDir])).version).toBe(alice.version)
    const added = await json(['service', 'add', 'site', 'LinkedDomains', 'https://alice.example', '--name', 'alice', '--data-dir', dataDir])
    expect(added.version).toBe(alice.version + 1)
    await stop(daemon)

    // Test identifiers are what the configuration names, each once.
    daemon = await start(dataDir, [], { IPIDD_TEST_IDENTIFIERS: `${carol.did} ${carol.did}` })
    url = await daemon.ready
    expect(await (await fetch(`${url}/1.0/testIdentifiers`)).json()).toEqual({ ipid: [carol.did] })
    await stop(daemon)
  }, E2E_TIMEOUT_MS)
})

describe('/metrics and /readyz', () => {
  it('answer loopback clients only on the main listener, and anyone on the probes listener (behind a trusted proxy, on loopback)', async () => {
    // A proxy on this machine forwards a remote client: the daemon trusts it to name the client.
    const daemon = await start(join(dir, 'proxied'), ['--probes-port', '0', '--probes-host', '127.0.0.1'], { IPIDD_TRUST_PROXY: 'loopback' })
    const url = await daemon.ready
    const remote = { 'x-forwarded-for': '203.0.113.9' }
    for (const path of ['/metrics', '/readyz']) {
      const refused = await fetch(`${url}${path}`, { headers: remote })
      expect(refused.status, path).toBe(403)
      expect(await refused.json()).toMatchObject({ reason: 'not_loopback' })
      expect((await fetch(`${url}${path}`)).status, path).toBe(200)
    }
    expect((await fetch(`${url}/healthz`, { headers: remote })).status).toBe(200)
    expect((await fetch(`${url}/1.0/testIdentifiers`, { headers: remote })).status).toBe(200)

    const probes = probesUrlOf(daemon.output().stdout)
    expect(probes).not.toBe(url)
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${probes}${path}`, { headers: remote })).status, path).toBe(200)
    expect((await fetch(`${probes}/1.0/testIdentifiers`)).status).toBe(404)
    expect((await fetch(`${probes}/admin/v1/status`)).status).toBe(404)
    await stop(daemon)

    // An operator who wants them public on the HTTP port says so.
    const open = await start(join(dir, 'proxied'), ['--probes-access', 'any'], { IPIDD_TRUST_PROXY: 'loopback' })
    for (const path of ['/metrics', '/readyz']) expect((await fetch(`${await open.ready}${path}`, { headers: remote })).status, path).toBe(200)
    await stop(open)
  }, E2E_TIMEOUT_MS)

  it.runIf(namespaceSupport().ok)('bound to 0.0.0.0, refuse a client on another host and answer on the probes port (network namespaces)', async () => {
    const pair = await createNamespacePair()
    try {
      const dataDir = join(dir, 'bound-to-all')
      // The daemon runs in the server namespace: 0.0.0.0 there is its loopback and 10.77.0.1, nothing of this machine.
      const child = spawn('ip', ['netns', 'exec', pair.serverNamespace, process.execPath, IPID_MAIN, 'daemon', '--data-dir', dataDir,
        '--http-host', '0.0.0.0', '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: dir, env: { ...env, IPIDD_PROBES_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
      track(child)
      let stdout = ''
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
      await expect.poll(() => stdout, { timeout: READY_TIMEOUT_MS, interval: 100 }).toContain('ready')
      const port = /HTTP\s+http:\/\/0\.0\.0\.0:(\d+)/.exec(stdout)?.[1]
      expect(port, stdout).toBeDefined()
      const main = `http://${SERVER_ADDRESS}:${port!}`

      for (const path of ['/metrics', '/readyz']) {
        const refused = await pair.request(`${main}${path}`)
        expect(refused.status, path).toBe(403)
        expect(JSON.parse(refused.text)).toMatchObject({ reason: 'not_loopback' })
        expect((await pair.request(`http://127.0.0.1:${port!}${path}`, {}, 'server')).status, path).toBe(200)
      }
      expect((await pair.request(`${main}/healthz`)).status).toBe(200)
      expect((await pair.request(`${main}/1.0/methods`)).status).not.toBe(403)
      // The probes listener (IPIDD_PROBES_PORT; its address, the main listener's): what a kubelet or Prometheus reaches.
      const probesPort = /probes\s+http:\/\/0\.0\.0\.0:(\d+)/.exec(stdout)?.[1]
      expect(probesPort, stdout).toBeDefined()
      for (const path of ['/healthz', '/readyz', '/metrics']) expect((await pair.request(`http://${SERVER_ADDRESS}:${probesPort!}${path}`)).status, path).toBe(200)
      expect((await pair.request(`http://${SERVER_ADDRESS}:${probesPort!}/1.0/testIdentifiers`)).status).toBe(404)

      child.kill('SIGTERM')
      await new Promise(resolve => child.once('exit', resolve))
    } finally {
      await pair.close()
    }
  }, E2E_TIMEOUT_MS)
})
