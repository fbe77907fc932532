/**
 * The server side of the HTTP benchmark, in its own process so that the load generator does not share its
 * event loop. `bare`: a plain express route answering a DID resolution result held in memory. `ipidd`: the
 * daemon's whole HTTP application (security headers, request ids and a log line per request, CORS, rate
 * limit, Accept negotiation, ETag) over a resolver with a warm cache, resolving a DID published by a second
 * embedded node. Prints `{"url", "path"}` on one line when ready.
 */
import { createWriteStream, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { ResolveCache } from '../src/cache/cache.ts'
import { SqliteStore } from '../src/cache/sqlite-store.ts'
import { createApp } from '../src/http/app.ts'
import { DEFAULT_HTTP_LIMITS, createHttpServer } from '../src/http/protect.ts'
import { toWireResult } from '../src/resolver/wire.ts'
import { createAccessLogger, createLogger } from '../src/log.ts'
import { Resolver } from '../src/resolver/resolver.ts'
import { buildChain, testIdentity } from '../test/helpers/fixtures.ts'
import { publishVersion, startMesh } from '../test/helpers/network.ts'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

const mode = process.argv[2]
const [a, b] = await startMesh(2)
const id = await testIdentity(7_000_000)
const [v1] = await buildChain(id, 1, Date.now() - 3_600_000)
await publishVersion(a!, id.root, v1!)
const cache = new ResolveCache({ store: new SqliteStore(join(mkdtempSync(join(tmpdir(), 'ipidd-bench-http-')), 'cache.sqlite')), clock: Date.now })
await cache.start()
const resolver = new Resolver({ backend: b!, cache, deadlineMs: 10_000 })
const warm = await resolver.resolve(id.did)
if (warm.didResolutionMetadata.error !== undefined) throw new Error('the benchmark DID did not resolve')
const path = `/1.0/identifiers/${encodeURIComponent(id.did)}`

let server: Server
if (mode === 'bare') {
  const body = JSON.stringify(toWireResult(warm))
  const app = express()
  app.get('/1.0/identifiers/:did', (_req, res) => { res.type('application/did-resolution').send(body) })
  server = app.listen(0, '127.0.0.1')
} else {
  // Request logs go to /dev/null at info level: their cost is counted, their volume is not kept.
  const logger = createLogger('info', createWriteStream('/dev/null'))
  const accessLogger = createAccessLogger('info', '/dev/null')
  const limits = { ...DEFAULT_HTTP_LIMITS, rateLimit: { ...DEFAULT_HTTP_LIMITS.rateLimit, requestsPerWindow: 100_000_000, burst: 1_000_000 } }
  const app = createApp({ startedAtMs: Date.now(), now: Date.now, resolver, logger, accessLogger, limits })
  server = createHttpServer(app, { limits, logger })
  server.listen(0, '127.0.0.1')
}
await new Promise(resolve => server.once('listening', resolve))
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, path })}\n`)
