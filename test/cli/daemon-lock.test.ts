/**
 * Issue 12, restarts: the data directory's lock dies with the daemon that held it. A daemon killed with SIGKILL
 * is restarted on the same directory even when the pid it left names a live, unrelated process — and when it
 * ran as PID 1 in its own PID namespace (a container's entrypoint) and runs as PID 1 again. A second daemon
 * that is alive is still refused, with a message naming it. Runs the real `ipid daemon` processes.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LOCK_FILE_NAME } from '../../src/daemon-lock.ts'
import { spawnDaemon } from '../helpers/cli.ts'
import type { DaemonProcess } from '../helpers/cli.ts'

/** A fresh PID namespace with its own /proc: the daemon in it is PID 1, as a container's entrypoint is; it dies with unshare (--kill-child), so a test's cleanup leaves no daemon behind. */
const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc']

/** Whether this machine lets the test make PID namespaces (root, util-linux `unshare`); tried once. */
const pidNamespaces = ((): boolean => {
  if (process.getuid?.() !== 0) return false
  try {
    return execFileSync(PID_NAMESPACE[0]!, [...PID_NAMESPACE.slice(1), process.execPath, '-p', 'process.pid'], { stdio: 'pipe' }).toString().trim() === '1'
  } catch {
    return false
  }
})()

const running: DaemonProcess[] = []
afterEach(async () => {
  for (const daemon of running.splice(0)) {
    daemon.child.kill('SIGKILL')
    await daemon.exited
  }
})

const start = (dataDir: string, prefix?: string[]): DaemonProcess => {
  const daemon = spawnDaemon(['--data-dir', dataDir, '--log-level', 'warn'], prefix === undefined ? {} : { prefix })
  running.push(daemon)
  return daemon
}

/** The host pid of the daemon that `unshare --fork` started: unshare's only child. */
function childOf (pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
  expect(children).toHaveLength(1)
  return children[0]!
}

async function answers (url: string): Promise<void> {
  expect((await fetch(`${url}/healthz`)).status).toBe(200)
}

describe('the data directory lock', () => {
  it('is taken over after SIGKILL even when the pid left behind names a live, unrelated process', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-lock-'))
    const first = start(dataDir)
    await first.ready
    first.child.kill('SIGKILL')
    await first.exited
    // What a pid lock left behind, once the pid was reused: this test's own process is alive and no ipidd.
    // Also what an older ipidd leaves on disk when it is killed.
    writeFileSync(join(dataDir, LOCK_FILE_NAME), `${process.pid}\n`)
    const second = start(dataDir)
    await answers(await second.ready)
    // And it still keeps a live second daemon out, naming it.
    const third = start(dataDir)
    expect(await third.exited).toBe(1)
    expect(third.output().stderr).toContain(`another ipidd (pid ${second.child.pid}) is using ${dataDir}`)
  })

  it.runIf(pidNamespaces)('restarts as PID 1 in a PID namespace after SIGKILL, and still refuses a live PID 1 from another namespace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-lock-pid1-'))
    const first = start(dataDir, PID_NAMESPACE)
    await answers(await first.ready)
    process.kill(childOf(first.child.pid!), 'SIGKILL')
    await first.exited

    const second = start(dataDir, PID_NAMESPACE)
    await answers(await second.ready)
    // Another container on the same volume: also PID 1 in its namespace, and kept out.
    const third = start(dataDir, PID_NAMESPACE)
    expect(await third.exited).toBe(1)
    expect(third.output().stderr).toContain(`another ipidd (pid 1) is using ${dataDir}`)
  })
})
