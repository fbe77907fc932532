/**
 * The README's first command: the daemon starts with embedded defaults, says what it is, serves /healthz,
 * and stops cleanly on Ctrl-C (SIGINT). Runs the real `ipid` entry point in a child process.
 */
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { lockDataDir } from '../../src/daemon-lock.ts'
import { spawnDaemon } from '../helpers/cli.ts'
import type { DaemonProcess } from '../helpers/cli.ts'

const startDaemon = (args: string[]): DaemonProcess => spawnDaemon(args)

describe('ipid daemon', () => {
  it('starts, says what it is, answers /healthz, and stops cleanly on Ctrl-C', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'ipidd-daemon-')), 'data')
    const daemon = startDaemon(['--data-dir', dataDir])
    const url = await daemon.ready
    expect(daemon.output().stdout).toMatch(/^ipidd \d+\.\d+\.\d+: did:ipid daemon/)
    expect(daemon.output().stdout).toContain(dataDir)
    expect(daemon.output().stdout).toMatch(/PeerId\s+12D3KooW\w+/)
    expect(daemon.output().stdout).toMatch(/libp2p\s+\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    expect(daemon.output().stdout).toContain('dials nobody until given --bootstrap peers')
    // A fresh daemon holds no identity: the first one made is the one DIDAuth proves.
    expect(daemon.output().stdout).toMatch(/DIDAuth\s+none yet \(the first identity made is proved\)/)
    const health = await fetch(`${url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok', service: 'ipidd' })
    expect((await fetch(`${url}/nope`)).status).toBe(404)
    expect(existsSync(join(dataDir, 'daemon.lock'))).toBe(true)

    daemon.child.kill('SIGINT')
    expect(await daemon.exited).toBe(0)
    expect(daemon.output().stdout).toContain('ipidd stopped')
    // The lock file stays (see src/daemon-lock.ts); its lock went with the process.
    lockDataDir(dataDir)()
    const logLines = daemon.output().stderr.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(logLines.filter(l => l.msg !== 'request').map(l => l.msg)).toEqual(['ipidd started', 'ipidd stopping', 'ipidd stopped'])
    // One structured line per HTTP request, with its id.
    expect(logLines.find(l => l.msg === 'request')).toMatchObject({ method: 'GET', path: '/healthz', status: 200, reqId: expect.any(String) })
  })

  it('refuses a second daemon on the same data directory, with a clear message', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-daemon-'))
    const first = startDaemon(['--data-dir', dataDir])
    await first.ready
    const second = startDaemon(['--data-dir', dataDir])
    expect(await second.exited).toBe(1)
    expect(second.output().stderr).toMatch(/another ipidd \(pid \d+\) is using/)
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
  })

  it('exits 2 with a one-line message on a bad flag or configuration', async () => {
    const bad = startDaemon(['--log-level', 'loud', '--data-dir', mkdtempSync(join(tmpdir(), 'ipidd-daemon-'))])
    expect(await bad.exited).toBe(2)
    expect(bad.output().stderr).toMatch(/^ipid: invalid configuration at "logLevel"/)
  })
})
