/**
 * Issue 12, restarts: files of the data directory damaged between two runs of the real `ipid daemon` process.
 * A garbled libp2p key stops the start with a message naming the file and the fix, instead of starting
 * "healthy" under a PeerId whose connections all fail. An emptied or deleted cache does not make the daemon's
 * own DIDs unresolvable; a damaged one stops the start saying it is only a cache. A damaged identity.json
 * stops that identity only, and says how to restore it.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runIpid, spawnDaemon } from '../helpers/cli.ts'
import type { DaemonProcess } from '../helpers/cli.ts'

const running: DaemonProcess[] = []
afterEach(async () => {
  for (const daemon of running.splice(0)) {
    daemon.child.kill('SIGKILL')
    await daemon.exited
  }
})


async function stop (daemon: DaemonProcess): Promise<void> {
  daemon.child.kill('SIGTERM')
  const code = await daemon.exited
  expect(code, JSON.stringify({ signal: daemon.child.signalCode, ...daemon.output() })).toBe(0)
}

/** How the daemon's start ended: the exit code it stopped with, or 'ready'. */
async function outcome (daemon: DaemonProcess): Promise<number | null | 'ready'> {
  return Promise.race([daemon.ready.then(() => 'ready' as const, () => daemon.exited), daemon.exited])
}

/** The environment of the `ipid` commands and daemons: a passphrase, and cheap key derivation (tests only). */
function envOf (dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_PASSPHRASE: 'corrupt files test passphrase' }
  for (const name of ['IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP']) delete env[name]
  return env
}

/** `ipid daemon` on `dataDir`; without the passphrase (`locked`) it cannot re-sign its identities' records. */
const start = (dataDir: string, options: { locked?: boolean } = {}): DaemonProcess => {
  const env = envOf(dataDir)
  if (options.locked === true) delete env.IPIDD_PASSPHRASE
  const daemon = spawnDaemon(['--data-dir', dataDir, '--log-level', 'warn'], { env })
  running.push(daemon)
  return daemon
}

async function ipid (dataDir: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return runIpid([...args, '--data-dir', dataDir], dataDir, envOf(dataDir))
}

/** A daemon on `dataDir` with the identities `names`, created through `ipid init`; stopped again. Their DIDs and heads. */
async function withIdentities (dataDir: string, names: string[]): Promise<Array<{ name: string, did: string, versionId: string }>> {
  const daemon = start(dataDir)
  await daemon.ready
  const created = []
  for (const name of names) {
    const init = await ipid(dataDir, ['init', '--name', name, '--json'])
    expect(init.code, init.stderr).toBe(0)
    created.push({ name, ...JSON.parse(init.stdout) as { did: string, versionId: string } })
  }
  await stop(daemon)
  return created
}

async function resolveOver (url: string, did: string): Promise<{ status: number, versionId?: string }> {
  const response = await fetch(`${url}/1.0/identifiers/${encodeURIComponent(did)}`)
  const body = await response.json() as { didDocumentMetadata?: { versionId?: string } }
  return { status: response.status, ...(body.didDocumentMetadata?.versionId === undefined ? {} : { versionId: body.didDocumentMetadata.versionId }) }
}

const peerIdOf = (daemon: DaemonProcess): string => /PeerId\s+(\S+)/.exec(daemon.output().stdout)?.[1] ?? ''

describe('a garbled libp2p key', () => {
  it('stops the start, naming the file and the fix; deleting it gives a new PeerId', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-peerkey-'))
    const first = start(dataDir)
    await first.ready
    const peerId = peerIdOf(first)
    expect(peerId).toMatch(/^12D3KooW/)
    await stop(first)

    const keyFile = join(dataDir, 'ipfs', 'libp2p.key')
    const key = readFileSync(keyFile)
    // Protobuf: type (Ed25519), then 64 bytes: the 32-byte seed, then the public key the PeerId comes from.
    // A changed seed leaves the PeerId as it was and makes every signature (every noise handshake) wrong.
    const garbled = Buffer.from(key)
    for (let i = 4; i < 36; i++) garbled[i] = garbled[i]! ^ 0x5a
    for (const bytes of [garbled, Buffer.from('not a key at all\n'), key.subarray(0, 20)]) {
      writeFileSync(keyFile, bytes)
      const second = start(dataDir)
      expect(await outcome(second)).toBe(1)
      const message = second.output().stderr
      expect(message).toContain(keyFile)
      expect(message).toMatch(/restore it from a backup/)
      expect(message).toMatch(/delete it .*new PeerId/)
      expect(message).not.toContain(key.toString('hex'))
    }

    rmSync(keyFile)
    const third = start(dataDir)
    await third.ready
    expect(peerIdOf(third)).toMatch(/^12D3KooW/)
    expect(peerIdOf(third)).not.toBe(peerId)
  })
})

describe('the cache emptied or deleted between two runs', () => {
  it('still answers the daemon\'s own DIDs, from its own state, with no peer to ask', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-owncache-'))
    const [alice] = await withIdentities(dataDir, ['alice'])
    const cacheFile = join(dataDir, 'cache.sqlite')
    for (const damage of [() => { truncateSync(cacheFile, 0); rmSync(`${cacheFile}-wal`, { force: true }) }, () => { rmSync(cacheFile) }]) {
      damage()
      const daemon = start(dataDir, { locked: true })
      const url = await daemon.ready
      expect(await resolveOver(url, alice!.did)).toEqual({ status: 200, versionId: alice!.versionId })
      await stop(daemon)
    }
  })
})

describe('a damaged cache.sqlite', () => {
  it('stops the start, saying it is only a cache and can be deleted; deleted, the daemon starts', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-badcache-'))
    await withIdentities(dataDir, [])
    const cacheFile = join(dataDir, 'cache.sqlite')
    const bytes = readFileSync(cacheFile)
    // The header stays a SQLite header; the pages after it are overwritten.
    writeFileSync(cacheFile, Buffer.concat([bytes.subarray(0, 100), Buffer.alloc(Math.max(bytes.length, 8192) - 100, 0xa5)]))
    rmSync(`${cacheFile}-wal`, { force: true })
    const daemon = start(dataDir)
    expect(await outcome(daemon)).toBe(1)
    const message = daemon.output().stderr
    expect(message).toContain(cacheFile)
    expect(message).toMatch(/only a cache/)
    expect(message).toMatch(/delete it/)

    rmSync(cacheFile)
    await start(dataDir).ready
  })
})

describe('a damaged identity.json', () => {
  it('stops that identity only: the daemon starts, the others work, and ipid ls says how to restore it', { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-badidentity-'))
    const [alice, bob] = await withIdentities(dataDir, ['alice', 'bob'])
    const aliceFile = join(dataDir, 'identities', 'alice', 'identity.json')
    const backup = join(dataDir, 'alice.backup')
    const before = start(dataDir)
    await before.ready
    const exported = await ipid(dataDir, ['keys', 'export', 'alice', backup])
    expect(exported.code, exported.stderr).toBe(0)
    await stop(before)
    let bobHead = bob!.versionId
    for (const damage of ['{ "format": "ipidd-identity/1", "name": "al', JSON.stringify({ format: 'ipidd-identity/1', name: 'alice' })]) {
      writeFileSync(aliceFile, damage)
      const daemon = start(dataDir)
      const url = await daemon.ready
      expect(daemon.output().stderr).toContain(aliceFile)
      expect(await resolveOver(url, bob!.did)).toEqual({ status: 200, versionId: bobHead })
      const changed = await ipid(dataDir, ['key', 'add', 'bob', '--json'])
      expect(changed.code, changed.stderr).toBe(0)
      bobHead = (JSON.parse(changed.stdout) as { versionId: string }).versionId
      expect(await resolveOver(url, bob!.did)).toEqual({ status: 200, versionId: bobHead })

      const list = await ipid(dataDir, ['ls'])
      expect(list.code, list.stderr).toBe(0)
      expect(list.stdout).toContain(bob!.did)
      expect(list.stdout).toContain('alice')
      expect(list.stdout).toContain(aliceFile)
      expect(list.stdout).toMatch(/ipid keys import/)
      const json = JSON.parse((await ipid(dataDir, ['ls', '--json'])).stdout) as { identities: Array<{ name: string }>, damaged: Array<{ name: string, path: string, message: string }> }
      expect(json.identities.map(i => i.name)).toEqual(['bob'])
      expect(json.damaged).toEqual([expect.objectContaining({ name: 'alice', path: aliceFile })])
      const status = await ipid(dataDir, ['status'])
      expect(status.stdout).toMatch(/damaged\s+alice \(identity\.json damaged: `ipid ls` says how to restore it\)/)
      expect(JSON.parse((await ipid(dataDir, ['status', '--json'])).stdout).identities).toMatchObject({ held: 1, damaged: ['alice'] })
      const show = await ipid(dataDir, ['show', 'alice'])
      expect(show.code).toBe(1)
      expect(show.stderr).toMatch(/ipid keys import/)
      await stop(daemon)
    }

    // What the message says to do brings it back.
    const daemon = start(dataDir)
    const url = await daemon.ready
    const imported = await ipid(dataDir, ['keys', 'import', backup])
    expect(imported.code, imported.stderr).toBe(0)
    const json = JSON.parse((await ipid(dataDir, ['ls', '--json'])).stdout) as { identities: Array<{ name: string }>, damaged: unknown[] }
    expect(json).toEqual({ identities: [expect.objectContaining({ name: 'alice' }), expect.objectContaining({ name: 'bob' })], damaged: [] })
    expect(await resolveOver(url, alice!.did)).toEqual({ status: 200, versionId: alice!.versionId })
    // The damaged file is kept beside the restored one.
    expect(readFileSync(`${aliceFile}.damaged`, 'utf8')).toBe(JSON.stringify({ format: 'ipidd-identity/1', name: 'alice' }))
  })
})
