/**
 * Real daemon processes for one test file: each `ipid daemon` started on a data directory with the file's
 * environment and awaited until ready, stopped with SIGTERM and expected to exit cleanly, and killed at the end
 * (`killAll`, from `afterAll`) when a failing test left it running.
 */
import { expect } from 'vitest'
import { spawnDaemon } from './cli.ts'
import type { ChildProcess } from 'node:child_process'
import type { DaemonProcess } from './cli.ts'

export interface DaemonSession {
  start: (dataDir: string, args?: string[], extraEnv?: NodeJS.ProcessEnv) => Promise<DaemonProcess>
  /** SIGTERM, then exit code 0; the message says how it ended otherwise, with the end of its log. */
  stop: (daemon: DaemonProcess) => Promise<void>
  /** A process the test started itself (a daemon in a namespace, one expected to refuse to start). */
  track: (child: ChildProcess) => void
  killAll: () => void
}

export function daemonSession (cwd: string, env: NodeJS.ProcessEnv): DaemonSession {
  const children: ChildProcess[] = []
  return {
    async start (dataDir, args = [], extraEnv = {}) {
      const daemon = spawnDaemon(['--data-dir', dataDir, ...args], { cwd, env: { ...env, ...extraEnv } })
      children.push(daemon.child)
      await daemon.ready
      return daemon
    },
    async stop (daemon) {
      daemon.child.kill('SIGTERM')
      const code = await daemon.exited
      expect(code, `the daemon did not stop cleanly (signal ${String(daemon.child.signalCode)}): ${daemon.output().stderr.slice(-2000)}`).toBe(0)
    },
    track (child) { children.push(child) },
    killAll () { for (const child of children) child.kill('SIGKILL') }
  }
}
