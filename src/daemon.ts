/**
 * Composition root: builds the daemon's parts from one configuration, starts them in order and stops them in
 * reverse. Only this module knows every part.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createApp } from './http/app.ts'
import { systemClock } from './did/time.ts'
import { VERSION } from './version.ts'
import type { Config } from './config.ts'
import type { Clock } from './did/time.ts'
import type { Logger } from './log.ts'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** How long in-flight HTTP requests may take to finish once a stop begins. */
export const SHUTDOWN_DEADLINE_MS = 10_000
export const LOCK_FILE_NAME = 'daemon.lock'

export class DaemonStartError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DaemonStartError'
  }
}

export interface Daemon {
  readonly config: Config
  readonly httpUrl: string
  stop: () => Promise<void>
}

export interface DaemonOptions {
  logger: Logger
  clock?: Clock
}

export async function startDaemon (config: Config, options: DaemonOptions): Promise<Daemon> {
  const { logger } = options
  const clock = options.clock ?? systemClock
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const releaseLock = acquireLock(config.dataDir)
  let server: Server | undefined
  try {
    const app = createApp({ startedAtMs: clock(), now: clock })
    server = await listen(app, config.http.host, config.http.port)
  } catch (err) {
    releaseLock()
    throw err
  }
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const httpUrl = `http://${host}:${address.port}`
  logger.info({ version: VERSION, dataDir: config.dataDir, httpUrl }, 'ipidd started')

  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('ipidd stopping')
      await closeServer(server, SHUTDOWN_DEADLINE_MS)
      releaseLock()
      logger.info('ipidd stopped')
    })()
    return stopping
  }
  return { config, httpUrl, stop }
}

async function listen (app: ReturnType<typeof createApp>, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host)
    server.once('listening', () => { resolve(server) })
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new DaemonStartError(err.code === 'EADDRINUSE'
        ? `HTTP port ${host}:${port} is already in use: stop the other program or set --http-port`
        : `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
    })
  })
}

async function closeServer (server: Server, deadlineMs: number): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(() => { server.closeAllConnections() }, deadlineMs)
    timer.unref()
    server.close(() => { clearTimeout(timer); resolve() })
    server.closeIdleConnections()
  })
}

/**
 * One daemon per data directory: its stores are not made for two writers. A lock left by a daemon that died
 * (its pid is gone) is taken over.
 */
function acquireLock (dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE_NAME)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 })
      return () => { rmSync(path, { force: true }) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10)
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new DaemonStartError(`another ipidd (pid ${pid}) is using ${dataDir}; stop it or choose another --data-dir`)
      }
      rmSync(path, { force: true })
    }
  }
  throw new DaemonStartError(`cannot lock ${dataDir}`)
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
