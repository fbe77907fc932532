/**
 * A Redis or PostgreSQL server of a test's own, on a free 127.0.0.1 port, for fault tests: the test stops it,
 * hangs it (SIGSTOP / SIGCONT), restarts it, crashes it or empties it. The shared servers of
 * scripts/test-services.sh are never touched. Same settings as that script: loopback only, no persistence
 * for Redis, trust auth and no durability for PostgreSQL, and as root the cluster runs as `postgres`.
 */
import { execFile } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)
/** How long a server may take to start or stop on a busy machine. */
const SERVER_START_DEADLINE_MS = 60_000
const POLL_MS = 100

export interface OwnServer {
  url: string
  /** SIGSTOP every process of the server: connections stay open and nothing answers. */
  pause: () => Promise<void>
  /** SIGCONT them again. */
  resume: () => Promise<void>
  /** Stops the server (connections refused from now on); `start` brings it back on the same port. */
  stop: () => Promise<void>
  start: () => Promise<void>
  /** Stops the server and deletes its data. */
  dispose: () => Promise<void>
}

export interface OwnRedis extends OwnServer {
  /** `redis-cli <args>` against this server; its output, trimmed. */
  cli: (...args: string[]) => Promise<string>
  /** Shuts it down without saving and starts it again on the same port: everything it held is gone. */
  restartEmpty: () => Promise<void>
}

export interface OwnPostgres extends OwnServer {
  /** `pg_ctl restart -m fast`: every connection is ended, the data stays. */
  restartFast: () => Promise<void>
  /**
   * SIGKILL of every server process under the postmaster (a backend crash): PostgreSQL ends every connection,
   * runs crash recovery and accepts connections again. (Killing the postmaster itself would leave a zombie
   * that holds its lock file where nothing reaps orphans, as in this container.)
   */
  crash: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

async function until (what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + SERVER_START_DEADLINE_MS
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${SERVER_START_DEADLINE_MS} ms`)
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/** The direct children of a process (PostgreSQL's backends and helpers), from /proc. */
function childrenOf (pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {} // gone meanwhile
  }
  return children
}

/** Whether a process runs (a zombie nobody reaped yet does not). */
function alive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function signal (pids: number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try { process.kill(pid, name) } catch {} // gone meanwhile
  }
}

export async function startOwnRedis (): Promise<OwnRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-own-redis-'))
  const port = await freePort()
  const cli = async (...args: string[]): Promise<string> => (await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout.trim()
  const pid = (): number => Number(readFileSync(join(dir, 'redis.pid'), 'utf8'))
  const start = async (): Promise<void> => {
    await exec('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
      '--dir', dir, '--pidfile', join(dir, 'redis.pid'), '--logfile', join(dir, 'redis.log')])
    await until('redis-server did not answer PING', async () => await cli('ping').catch(() => '') === 'PONG')
  }
  const stop = async (): Promise<void> => {
    if (!existsSync(join(dir, 'redis.pid'))) return
    const was = pid()
    signal([was], 'SIGCONT')
    await cli('shutdown', 'nosave').catch(() => '')
    await until('redis-server did not stop', () => !alive(was))
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    cli,
    pause: async () => { signal([pid()], 'SIGSTOP') },
    resume: async () => { signal([pid()], 'SIGCONT') },
    stop,
    start,
    restartEmpty: async () => { await stop(); await start() },
    dispose: async () => { await stop(); rmSync(dir, { recursive: true, force: true }) }
  }
}

/** The newest PostgreSQL server binaries (Debian's layout), as scripts/test-services.sh finds them. */
function pgBin (): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter(v => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(a) - Number(b)) : []
  const newest = versions.at(-1)
  if (newest === undefined) throw new Error('no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)')
  return join(root, newest, 'bin')
}

export async function startOwnPostgres (): Promise<OwnPostgres> {
  const bin = pgBin()
  const root = process.getuid?.() === 0
  /** As root the cluster belongs to `postgres`: PostgreSQL refuses to run as root. */
  const asPg = async (program: string, args: string[]): Promise<void> => {
    if (root) await exec('runuser', ['-u', 'postgres', '--', join(bin, program), ...args], { cwd: '/' })
    else await exec(join(bin, program), args)
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-own-pg-'))
  chmodSync(dir, 0o755)
  const data = join(dir, 'data')
  if (root) {
    const { stdout } = await exec('id', ['-u', 'postgres'])
    const { stdout: gid } = await exec('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  await asPg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
  const port = await freePort()
  const conf = join(data, 'postgresql.conf')
  writeFileSync(conf, `${readFileSync(conf, 'utf8')}\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = ''\nfsync = off\nmax_connections = 100\n`)
  const logFile = join(dir, 'server.log')
  const start = async (): Promise<void> => { await asPg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']) }
  const postmaster = (): number => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
  const tree = (): number[] => { const main = postmaster(); return [main, ...childrenOf(main)] }
  await start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pause: async () => { signal(tree(), 'SIGSTOP') },
    resume: async () => { signal(tree(), 'SIGCONT') },
    stop: async () => { await asPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']) },
    start,
    restartFast: async () => { await asPg('pg_ctl', ['-D', data, '-l', logFile, '-m', 'fast', '-w', '-t', '60', 'restart']) },
    crash: async () => {
      const main = postmaster()
      const children = childrenOf(main)
      signal(children, 'SIGKILL')
      await until('the killed server processes did not go', () => !children.some(alive))
      await until('PostgreSQL did not accept connections again after crash recovery', async () =>
        await exec(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).then(() => true, () => false))
    },
    dispose: async () => {
      if (existsSync(join(data, 'postmaster.pid'))) {
        signal(tree(), 'SIGCONT')
        await asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => {})
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
