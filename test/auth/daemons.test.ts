/**
 * Two daemons on 127.0.0.1 (issue 6, acceptance): each creates an identity through its admin API, and they
 * authenticate each other both ways over DIDAuth — by multiaddr through `POST /admin/v1/peers/auth`, by PeerId
 * through the library — and each one's `GET /admin/v1/peers` shows the other's DID. A key rotation takes effect
 * in the same run (the session on the old version ends), and after a restart with the passphrase
 * (IPIDD_PASSPHRASE) the daemon proves its identity again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { createLogger } from '../../src/log.ts'
import { eventually } from '../helpers/network.ts'
import type { Daemon } from '../../src/daemon.ts'

const PASS = 'didauth daemons passphrase'
const dirs: string[] = []
const running = new Set<Daemon>()

afterAll(async () => {
  await Promise.allSettled([...running].map(async d => d.stop()))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

async function daemon (dataDir: string, passphrase?: string): Promise<Daemon> {
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } })
  const started = await startDaemon(config, { logger: createLogger('silent'), seal: { logN: MIN_SCRYPT_LOG_N }, ...(passphrase === undefined ? {} : { passphrase }) })
  running.add(started)
  return started
}

async function admin (d: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const token = readFileSync(join(d.config.dataDir, 'admin.token'), 'utf8').trim()
  const response = await fetch(`${d.httpUrl}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, json: await response.json().catch(() => undefined) }
}

describe('two daemons', () => {
  it('authenticate each other both ways; each registry shows the other\'s DID; rotation and restart', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'ipidd-didauth-a-'))
    const dirB = mkdtempSync(join(tmpdir(), 'ipidd-didauth-b-'))
    dirs.push(dirA, dirB)
    const [a, b0] = await Promise.all([daemon(dirA), daemon(dirB)])
    await a.node!.dial(b0.node!.multiaddrs()[0]!)
    const [alice, bob] = await Promise.all([
      admin(a, 'POST', '/identities', { name: 'alice', passphrase: PASS }),
      admin(b0, 'POST', '/identities', { name: 'bob', passphrase: PASS })
    ])
    expect([alice.status, bob.status]).toEqual([201, 201])

    // A → B by multiaddr, through the admin API the CLI uses.
    const ofBob = await admin(a, 'POST', '/peers/auth', { address: b0.node!.multiaddrs()[0]! })
    expect(ofBob.status).toBe(200)
    expect(ofBob.json).toMatchObject({ ok: true, peer: { peerId: b0.node!.peerId.toString(), did: bob.json.did, keyId: `${bob.json.did as string}#auth-1`, versionId: bob.json.versionId } })
    expect((await admin(b0, 'GET', '/peers')).json.peers).toEqual([expect.objectContaining({ peerId: a.node!.peerId.toString(), did: alice.json.did })])
    // B → A by PeerId, through the library.
    const ofAlice = await b0.auth!.authenticate(a.node!.peerId.toString())
    expect(ofAlice.did).toBe(alice.json.did)
    expect((await admin(a, 'GET', '/peers')).json.peers).toEqual([expect.objectContaining({ did: bob.json.did })])
    expect(await b0.metrics.text()).toMatch(/ipidd_didauth_handshakes_total\{role="responder",outcome="ok"\} 1/)

    // A rotates its authentication key: B's session on the old version ends; the new key authenticates at once.
    const rotated = await admin(a, 'POST', '/identities/alice/keys/rotate', { passphrase: PASS })
    expect(rotated.json).toMatchObject({ added: ['auth-2'], removed: ['auth-1'] })
    await eventually(async () => {
      const result = await b0.resolver.resolve(alice.json.did as string, { noCache: true })
      return result.didDocumentMetadata.versionId === rotated.json.versionId ? true : undefined
    })
    expect((await admin(b0, 'GET', '/peers')).json.peers).toEqual([])
    const again = await admin(a, 'POST', '/peers/auth', { address: b0.node!.peerId.toString() })
    expect(again.status).toBe(200)
    expect(b0.auth!.registry.get(a.node!.peerId.toString())).toMatchObject({ keyId: `${alice.json.did as string}#auth-2`, versionId: rotated.json.versionId })

    // Refusals through the admin API.
    expect((await admin(a, 'POST', '/peers/auth', { address: 'not an address' })).json).toMatchObject({ status: 400, reason: 'bad_address' })
    expect((await admin(a, 'POST', '/peers/auth', { address: b0.node!.multiaddrs()[0]!, as: 'nobody' })).json).toMatchObject({ status: 404, reason: 'unknown_identity' })

    // B restarts with the passphrase (IPIDD_PASSPHRASE): its authentication key is unlocked again at start.
    running.delete(b0)
    await b0.stop()
    const b = await daemon(dirB, PASS)
    await a.node!.dial(b.node!.multiaddrs()[0]!)
    const afterRestart = await admin(a, 'POST', '/peers/auth', { address: b.node!.multiaddrs()[0]! })
    expect(afterRestart.json).toMatchObject({ ok: true, peer: { did: bob.json.did } })
  })
})
