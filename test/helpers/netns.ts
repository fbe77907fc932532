/**
 * Two test hosts on a private link that the test makes and tears down itself: network namespaces `server` and
 * `client`, joined by a veth pair (10.77.0.1/24 and 10.77.0.2/24), created straight inside them, so the
 * machine's own namespace gains no interface, address or route and nothing of their traffic can leave them.
 *
 * The test's HTTP server runs in the test process, yet listens inside the server namespace: a helper process
 * started there (`ip netns exec`) opens the listening socket and hands it over the IPC channel, then exits.
 * A client process started in the client namespace makes the requests, so the server sees a real remote
 * address (10.77.0.2) on a real TCP connection. Needs root and iproute2; `namespaceSupport()` tells.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { Server as HttpServer } from 'node:http'
import type { Server as NetServer } from 'node:net'

const run = promisify(execFile)

export const SERVER_ADDRESS = '10.77.0.1'
export const CLIENT_ADDRESS = '10.77.0.2'
const PREFIX_LENGTH = 24
/** A test host that does not answer in this long has failed. */
const STEP_TIMEOUT_MS = 15_000

export interface Reply { status: number, headers: Record<string, string>, text: string }
export interface RequestInit { method?: string, headers?: Record<string, string>, body?: string }

export interface NamespacePair {
  /** The server namespace's name, for a process of the test's own to run there (`ip netns exec <name> …`). */
  serverNamespace: string
  /** Makes `server` listen on the server namespace's address; resolves to its base URL as the client sees it. */
  listen: (server: HttpServer) => Promise<string>
  /** One HTTP request made with `fetch` from a process in the client namespace (or in the server's, over its loopback). */
  request: (url: string, init?: RequestInit, from?: 'client' | 'server') => Promise<Reply>
  /** Closes what listened there and deletes both namespaces (and with them the veth pair). */
  close: () => Promise<void>
}

let support: { ok: true } | { ok: false, reason: string } | undefined

/** Whether this machine lets the test make namespaces (root, iproute2, a kernel that allows it); tried once. */
export function namespaceSupport (): { ok: true } | { ok: false, reason: string } {
  if (support !== undefined) return support
  if (process.getuid?.() !== 0) return (support = { ok: false, reason: 'not root' })
  const name = `ipidd-probe-${randomBytes(4).toString('hex')}`
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' })
    execFileSync('ip', ['netns', 'delete', name], { stdio: 'pipe' })
    support = { ok: true }
  } catch (error) {
    support = { ok: false, reason: `ip netns add failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}` }
  }
  return support
}

async function ip (...args: string[]): Promise<void> {
  await run('ip', args, { timeout: STEP_TIMEOUT_MS })
}

/** Opens a listening TCP socket on `host` in this process's namespace and sends it to the parent. */
const LISTENER = `
const server = require('node:net').createServer()
server.listen({ host: process.argv[1], port: 0 }, () => {
  process.send({ port: server.address().port }, server, () => { server.close(); process.disconnect() })
})`

/** Makes one request with the arguments given as JSON and prints the answer as JSON. */
const CLIENT = `
const { url, init } = JSON.parse(process.argv[1])
fetch(url, init).then(async r => {
  process.stdout.write(JSON.stringify({ status: r.status, headers: Object.fromEntries(r.headers), text: await r.text() }))
}, error => { console.error(String(error.cause ?? error)); process.exit(1) })`

export async function createNamespacePair (): Promise<NamespacePair> {
  const id = randomBytes(3).toString('hex')
  const server = `ipidd-${id}-server`
  const client = `ipidd-${id}-client`
  const listening: NetServer[] = []
  const close = async (): Promise<void> => {
    for (const handle of listening) handle.close()
    await Promise.allSettled([ip('netns', 'delete', server), ip('netns', 'delete', client)])
  }
  try {
    await ip('netns', 'add', server)
    await ip('netns', 'add', client)
    await ip('link', 'add', 'veth-s', 'netns', server, 'type', 'veth', 'peer', 'name', 'veth-c', 'netns', client)
    await ip('-n', server, 'addr', 'add', `${SERVER_ADDRESS}/${PREFIX_LENGTH}`, 'dev', 'veth-s')
    await ip('-n', client, 'addr', 'add', `${CLIENT_ADDRESS}/${PREFIX_LENGTH}`, 'dev', 'veth-c')
    for (const [ns, dev] of [[server, 'veth-s'], [client, 'veth-c'], [server, 'lo'], [client, 'lo']] as const) await ip('-n', ns, 'link', 'set', dev, 'up')
  } catch (error) {
    await close()
    throw error
  }

  return {
    serverNamespace: server,

    async listen (httpServer) {
      const helper = spawn('ip', ['netns', 'exec', server, process.execPath, '-e', LISTENER, SERVER_ADDRESS], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
      let stderr = ''
      helper.stderr!.on('data', chunk => { stderr += String(chunk) })
      const [port, handle] = await new Promise<[number, NetServer]>((resolve, reject) => {
        const timer = setTimeout(() => { helper.kill(); reject(new Error(`no listening socket from namespace ${server} in ${STEP_TIMEOUT_MS} ms`)) }, STEP_TIMEOUT_MS)
        helper.once('message', (message: { port: number }, sent) => { clearTimeout(timer); resolve([message.port, sent as NetServer]) })
        helper.once('exit', code => { clearTimeout(timer); reject(new Error(`the listener in ${server} exited (${String(code)}): ${stderr}`)) })
      })
      listening.push(handle)
      await new Promise<void>((resolve, reject) => { httpServer.once('error', reject).listen(handle, () => { httpServer.off('error', reject); resolve() }) })
      return `http://${SERVER_ADDRESS}:${port}`
    },

    async request (url, init = {}, from = 'client') {
      // Asynchronous on purpose: the server answering it runs in this process's event loop.
      const { stdout } = await run('ip', ['netns', 'exec', from === 'client' ? client : server, process.execPath, '-e', CLIENT, JSON.stringify({ url, init })], { timeout: STEP_TIMEOUT_MS })
      return JSON.parse(stdout) as Reply
    },

    close
  }
}
