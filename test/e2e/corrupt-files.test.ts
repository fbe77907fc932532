/**
 * Issue 12, restarts: files of the data directory damaged between two runs of the real `ipid daemon` process.
 * A garbled libp2p key stops the start with a message naming the file and the fix, instead of starting
 * "healthy" under a PeerId whose connections all fail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { spawnDaemon } from '../helpers/cli.ts'
import type { DaemonProcess } from '../helpers/cli.ts'

const running: DaemonProcess[] = []
afterEach(async () => {
  for (const daemon of running.splice(0)) {
    daemon.child.kill('SIGKILL')
    await daemon.exited
  }
})

const start = (dataDir: string, args: string[] = []): DaemonProcess => {
  const daemon = spawnDaemon(['--data-dir', dataDir, '--log-level', 'warn', ...args])
  running.push(daemon)
  return daemon
}

async function stop (daemon: DaemonProcess): Promise<void> {
  daemon.child.kill('SIGTERM')
  expect(await daemon.exited).toBe(0)
}

/** How the daemon's start ended: the exit code it stopped with, or 'ready'. */
async function outcome (daemon: DaemonProcess): Promise<number | null | 'ready'> {
  return Promise.race([daemon.ready.then(() => 'ready' as const, () => daemon.exited), daemon.exited])
}

const peerIdOf = (daemon: DaemonProcess): string => /PeerId\s+(\S+)/.exec(daemon.output().stdout)?.[1] ?? ''

describe('a garbled libp2p key', () => {
  it('stops the start, naming the file and the fix; deleting it gives a new PeerId', async () => {
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
