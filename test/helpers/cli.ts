/** The real `ipid` entry point in a child process, for the CLI tests. */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const IPID_MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.ts')

export interface IpidRun { args: string[], code: number | null, stdout: string, stderr: string }

/** Runs `ipid <args>` in `cwd` with exactly `env`, to the end: its exit code, stdout and stderr. */
export async function runIpid (args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<IpidRun> {
  const child = spawn(process.execPath, [IPID_MAIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { args, code, stdout, stderr }
}
