/** The real `ipid` entry point in a child process, for the CLI tests. */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const IPID_MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.ts')

export interface IpidRun { args: string[], code: number | null, stdout: string, stderr: string }

/** Runs `ipid <args>` in `cwd` with exactly `env`, to the end: its exit code, stdout and stderr; `input` on stdin. */
export async function runIpid (args: string[], cwd: string, env: NodeJS.ProcessEnv, input?: string): Promise<IpidRun> {
  return { ...await runNode([IPID_MAIN, ...args], cwd, env, input), args }
}

/** Runs `node <args>` the same way (a script of a test's own, such as an app that verifies a JWT). */
export async function runNode (args: string[], cwd: string, env: NodeJS.ProcessEnv, input?: string): Promise<IpidRun> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  if (input !== undefined) child.stdin!.end(input)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { args, code, stdout, stderr }
}

export interface DaemonProcess {
  child: ChildProcess
  /** The HTTP URL it printed, once it says it is ready; rejects if it exits first. */
  ready: Promise<string>
  exited: Promise<number | null>
  output: () => { stdout: string, stderr: string }
}

/**
 * `ipid daemon <args>` in a child process, on a free HTTP port and a loopback libp2p address unless `args` say
 * otherwise. `prefix` runs it under another command (`['unshare', '--pid', '--fork', '--mount-proc']`).
 */
export function spawnDaemon (args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, prefix?: string[] } = {}): DaemonProcess {
  const command = [...options.prefix ?? [], process.execPath, IPID_MAIN, 'daemon', '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', ...args]
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env })
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const url = /HTTP\s+(http:\/\/\S+)/.exec(stdout)?.[1]
      if (url !== undefined && stdout.includes('ready')) resolve(url)
    })
    void exited.then(code => { reject(new Error(`daemon exited with ${code}: ${stderr}`)) })
  })
  ready.catch(() => {}) // awaited by tests that expect a start; others watch `exited` instead
  return { child, ready, exited, output: () => ({ stdout, stderr }) }
}
