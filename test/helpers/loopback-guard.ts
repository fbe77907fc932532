/**
 * The loopback guard: test and benchmark traffic goes to 127.0.0.0/8 and ::1 only, or to addresses inside a
 * network namespace the test made itself (test/helpers/netns.ts). Loaded into every Node process of a test run
 * (vitest's global setup puts it in NODE_OPTIONS, so workers, daemons and CLIs spawned by tests carry it too),
 * it wraps the two calls every outgoing TCP connection and UDP datagram of Node goes through
 * (`net.Socket.prototype.connect`, undici's fetch and libp2p's TCP transport included, and
 * `dgram.Socket.prototype.send`/`connect`). A connection to any other address is refused before a packet
 * leaves, with a LoopbackGuardError, and written to the run's violation log, which the global teardown turns
 * into a failed run.
 *
 * A process whose network namespace is not the test run's is inside a namespace a test made (only root can
 * make one, and the run starts in the machine's): its traffic cannot reach the machine's other addresses, so it
 * is let through.
 *
 * Node built-ins only, and the one loopback rule of the daemon (src/http/loopback.ts).
 */
import dgram from 'node:dgram'
import { appendFileSync, readlinkSync } from 'node:fs'
import net from 'node:net'
import { isLoopbackAddress } from '../../src/http/loopback.ts'

/** The network namespace the test run started in (`net:[inode]`), set by the global setup. */
export const GUARD_NETNS_ENV = 'IPIDD_TEST_NETNS'
/** The file every refused connection is appended to, one JSON line each, set by the global setup. */
export const GUARD_LOG_ENV = 'IPIDD_LOOPBACK_GUARD_LOG'

export class LoopbackGuardError extends Error {
  override name = 'LoopbackGuardError'
  readonly target: string
  constructor (target: string) {
    super(`loopback guard: a test tried to reach ${target}; tests and benchmarks may reach loopback (127.0.0.0/8, ::1) only, or addresses inside a network namespace they made (test/helpers/netns.ts)`)
    this.target = target
  }
}

/** Whether a host a socket is asked to reach is this machine's loopback. A name other than localhost is not. */
export function isLoopbackTarget (host: string | undefined): boolean {
  if (host === undefined || host === '') return true // Node's default host is localhost
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return bare === 'localhost' || bare === 'localhost.' || isLoopbackAddress(bare)
}

/** This process's network namespace, `net:[inode]`; undefined where /proc does not tell. */
export function currentNetns (): string | undefined {
  try { return readlinkSync('/proc/self/ns/net') } catch { return undefined }
}

/** True when this process runs in a network namespace other than the test run's: one a test made. */
function inTestNamespace (): boolean {
  const runs = process.env[GUARD_NETNS_ENV]
  const here = currentNetns()
  return runs !== undefined && here !== undefined && runs !== here
}

function refuse (target: string): never {
  const error = new LoopbackGuardError(target)
  const log = process.env[GUARD_LOG_ENV]
  if (log !== undefined && log !== '') {
    try {
      appendFileSync(log, JSON.stringify({ target, pid: process.pid, argv: process.argv.slice(1, 3), stack: error.stack }) + '\n')
    } catch {}
  }
  throw error
}

/** The host of a `socket.connect(…)` call, in any of its forms; undefined for a Unix socket path. */
function tcpTarget (args: unknown[]): { host: string | undefined, port: unknown } | undefined {
  let [first] = args
  // net.connect normalises its arguments to [options, callback] and sometimes nests them once more.
  if (Array.isArray(first)) first = first[0]
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: string, port?: unknown, path?: string }
    if (options.path !== undefined) return undefined
    return { host: options.host, port: options.port }
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined // a Unix socket path
  return { host: typeof args[1] === 'string' ? args[1] : undefined, port: first }
}

const INSTALLED = Symbol.for('ipidd.loopback-guard')

/** Wraps the connecting calls of `net` and `dgram`; a second call does nothing. */
export function installLoopbackGuard (): void {
  const marked = globalThis as { [INSTALLED]?: boolean }
  if (marked[INSTALLED] === true) return
  marked[INSTALLED] = true

  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function guardedConnect (this: net.Socket, ...args: unknown[]) {
    const target = tcpTarget(args)
    if (target !== undefined && !isLoopbackTarget(target.host) && !inTestNamespace()) refuse(`tcp ${target.host}:${String(target.port)}`)
    return Reflect.apply(connect, this, args)
  } as typeof connect

  const send = dgram.Socket.prototype.send
  dgram.Socket.prototype.send = function guardedSend (this: dgram.Socket, ...args: unknown[]) {
    // send(msg, [offset, length,] port, address, callback): the address is the first string after a number.
    const at = args.findIndex((arg, i) => i > 0 && typeof arg === 'string' && typeof args[i - 1] === 'number')
    const address = at === -1 ? undefined : args[at] as string
    if (at !== -1 && !isLoopbackTarget(address) && !inTestNamespace()) refuse(`udp ${address}:${String(args[at - 1])}`)
    return Reflect.apply(send, this, args)
  } as typeof send

  const udpConnect = dgram.Socket.prototype.connect
  dgram.Socket.prototype.connect = function guardedUdpConnect (this: dgram.Socket, ...args: unknown[]) {
    const address = typeof args[1] === 'string' ? args[1] : undefined
    if (!isLoopbackTarget(address) && !inTestNamespace()) refuse(`udp ${address}:${String(args[0])}`)
    return Reflect.apply(udpConnect, this, args)
  } as typeof udpConnect
}
