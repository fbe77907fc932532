/**
 * A client on a non-loopback address, for checks such as "the admin API refuses remote clients". Where the
 * test may make network namespaces (root, as in CI), it is a real one: a process in a namespace of its own,
 * across a veth pair from the namespace the server listens in (test/helpers/netns.ts). Elsewhere no packet is
 * sent at all: the request is written into an in-memory connection, handed to the server as if accepted,
 * whose remote address is the client's; `kind` says which, for the test's name.
 */
import { duplexPair } from 'node:stream'
import { CLIENT_ADDRESS, createNamespacePair, namespaceSupport, SERVER_ADDRESS } from './netns.ts'
import type { Reply, RequestInit } from './netns.ts'
import type { Server } from 'node:http'

export interface RemoteClient {
  kind: 'netns' | 'in-memory'
  /** The server's base URL as the remote client reaches it. */
  listen: (server: Server) => Promise<string>
  request: (url: string, init?: RequestInit) => Promise<Reply>
  close: () => Promise<void>
}

/** Which kind `remoteClient()` will give on this machine, and why; known before any test runs, for names. */
export function remoteClientKind (): { kind: 'netns' } | { kind: 'in-memory', reason: string } {
  const support = namespaceSupport()
  return support.ok ? { kind: 'netns' } : { kind: 'in-memory', reason: support.reason }
}

export async function remoteClient (): Promise<RemoteClient> {
  if (remoteClientKind().kind === 'netns') return { kind: 'netns', ...await createNamespacePair() }
  return inMemoryClient()
}

function inMemoryClient (): RemoteClient {
  let target: Server | undefined
  return {
    kind: 'in-memory',
    async listen (server) {
      target = server
      return `http://${SERVER_ADDRESS}`
    },
    async request (url, init = {}) {
      if (target === undefined) throw new Error('listen first')
      const { pathname, search, host } = new URL(url)
      const [client, accepted] = duplexPair()
      Object.defineProperty(accepted, 'remoteAddress', { value: CLIENT_ADDRESS })
      target.emit('connection', accepted)
      const headers = { host, connection: 'close', ...init.headers, ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }) }
      client.end(`${init.method ?? 'GET'} ${pathname}${search} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${init.body ?? ''}`)
      const chunks: Buffer[] = []
      for await (const chunk of client) chunks.push(chunk as Buffer)
      return parseResponse(Buffer.concat(chunks).toString('utf8'))
    },
    async close () {}
  }
}

/** An HTTP/1.1 response as sent with `connection: close`: a body of known length or chunked. */
function parseResponse (raw: string): Reply {
  const split = raw.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n')
  const headers = Object.fromEntries(lines.map(line => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
  let body = raw.slice(split + 4)
  if (headers['transfer-encoding'] === 'chunked') {
    let text = ''
    for (let at = 0; ;) {
      const end = body.indexOf('\r\n', at)
      const size = Number.parseInt(body.slice(at, end), 16)
      if (!(size > 0)) break
      text += body.slice(end + 2, end + 2 + size)
      at = end + 2 + size + 2
    }
    body = text
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, text: body }
}
