/**
 * What makes the public HTTP service safe to expose to the internet, as small pieces the app and the daemon
 * compose: security headers, CORS for public reads, a per-client rate limit, URL and body limits, request ids
 * and access logs, one error handler answering RFC 9457 problem documents, server timeouts against slow
 * clients, optional TLS, and a readiness probe. Every limit is a named constant in `DEFAULT_HTTP_LIMITS`.
 *
 * Order in the app: `publicFront` (security headers → request id and access line → CORS → URL limit → rate
 * limit, not for the probes `/healthz`, `/readyz`; it also answers warm resolution itself, the hot route) →
 * routes (each with its own body parser, `/admin` included) → notFound → problemErrors. The server comes from
 * `createHttpServer`, which applies the timeouts and answers what the HTTP parser refuses.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { STATUS_CODES, createServer as createPlainServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { performance } from 'node:perf_hooks'
import { systemClock } from '../did/time.ts'
import type { Clock } from '../did/time.ts'
import type { Logger } from '../log.ts'
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'
import type { IncomingMessage, RequestListener, Server, ServerOptions, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { PROBLEM_MEDIA_TYPE, problemOf, sendProblem } from './problem.ts'

export { PROBLEM_MEDIA_TYPE, problemOf, sendProblem } from './problem.ts'
export type { Problem } from './problem.ts'

const KIB = 1024

/** A DID URL with its query is a few hundred bytes; 8 KiB is what most servers and proxies accept. */
export const MAX_URL_BYTES = 8 * KIB
/** JSON bodies carry a JWT or a DID document (at most 32 KiB) and a few parameters. */
export const MAX_JSON_BODY_BYTES = 64 * KIB
/** Request line and headers together (Node's own default); larger is answered 431 by the HTTP parser. */
export const MAX_HEADER_BYTES = 16 * KIB
/** Headers past this count are dropped unread; real clients send a dozen or two. */
export const MAX_HEADERS_COUNT = 100
/** A client must send its whole request head within this time (slowloris). Node's default is 60 s. */
export const HEADERS_TIMEOUT_MS = 10_000
/** …and its whole request, body included (Node's default is 300 s). Must be ≥ the headers timeout. */
export const REQUEST_TIMEOUT_MS = 30_000
/** An idle keep-alive connection is closed after this (Node's default). */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000
/** A socket with no traffic either way is closed: covers clients that stop reading an answer. Must exceed the longest handler (routing deadline 15 s). */
export const SOCKET_IDLE_TIMEOUT_MS = 60_000
/** How often expired head/request timers are looked for (Node's default 30 s would make the timeouts loose). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000
/** Open connections at most; more are closed on accept, so a flood cannot exhaust file descriptors. */
export const MAX_CONNECTIONS = 10_000
/** Rate limit: sustained 10 requests per second per client… */
export const RATE_LIMIT_REQUESTS_PER_WINDOW = 600
export const RATE_LIMIT_WINDOW_MS = 60_000
/** …with bursts of up to this many (a page resolving many DIDs at once). */
export const RATE_LIMIT_BURST = 100
/** Clients tracked at once, least recently seen evicted first; about 100 bytes each, so ~10 MB at the cap. */
export const RATE_LIMIT_MAX_CLIENTS = 100_000
/** Browsers cache a CORS preflight answer this long (Firefox caps at 24 h, Chromium at 2 h). */
export const CORS_MAX_AGE_S = 24 * 60 * 60
/** Strict-Transport-Security on answers sent over TLS: a year. */
export const HSTS_MAX_AGE_S = 365 * 24 * 60 * 60
/** The readiness probe answers 503 when its checks take longer than this together. */
export const READINESS_DEADLINE_MS = 3_000
/** A socket answered with an error at the parser level gets this long to read the answer before it is destroyed. */
export const CLIENT_ERROR_LINGER_MS = 1_000
/** A client-supplied `X-Request-Id` is echoed only when it is a short token of these characters. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/
/** Access logs keep at most this much of a path, and the names (never the values) of this many query options. */
export const MAX_LOGGED_PATH_CHARS = 512
export const MAX_LOGGED_QUERY_KEYS = 16
/** Problem details quoting library messages are cut to this length. */
const MAX_DETAIL_CHARS = 300
/** Requests under this prefix are the admin API: never CORS-enabled. */
export const ADMIN_PATH_PREFIX = '/admin'

/**
 * Which proxies' `X-Forwarded-For` to believe when telling clients apart: `false` (none; the socket's peer is
 * the client), a number of proxy hops in front of the daemon, or proxy addresses/subnets as Express takes them
 * (`'loopback'`, `'10.0.0.0/8'`, …). `true` (believe anyone) is deliberately not possible.
 */
export type TrustProxy = false | number | string[]

export interface RateLimitSettings {
  requestsPerWindow: number
  windowMs: number
  /** Bucket size: requests a client may send at once before the sustained rate applies. */
  burst: number
  /** Clients tracked at once; the least recently seen is forgotten first. */
  maxClients: number
}

export interface HttpLimits {
  maxUrlBytes: number
  maxJsonBodyBytes: number
  maxHeaderBytes: number
  maxHeadersCount: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  socketIdleTimeoutMs: number
  connectionsCheckIntervalMs: number
  maxConnections: number
  rateLimit: RateLimitSettings
  trustProxy: TrustProxy
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxUrlBytes: MAX_URL_BYTES,
  maxJsonBodyBytes: MAX_JSON_BODY_BYTES,
  maxHeaderBytes: MAX_HEADER_BYTES,
  maxHeadersCount: MAX_HEADERS_COUNT,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
  socketIdleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS,
  connectionsCheckIntervalMs: CONNECTIONS_CHECK_INTERVAL_MS,
  maxConnections: MAX_CONNECTIONS,
  rateLimit: Object.freeze({
    requestsPerWindow: RATE_LIMIT_REQUESTS_PER_WINDOW,
    windowMs: RATE_LIMIT_WINDOW_MS,
    burst: RATE_LIMIT_BURST,
    maxClients: RATE_LIMIT_MAX_CLIENTS
  }),
  trustProxy: false
})

export class HttpServerError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HttpServerError'
  }
}

// ---------------------------------------------------------------------------------------------------------
// Problem documents

/** A whole HTTP/1.1 answer as bytes, for sockets the HTTP parser gave up on (no request object exists). */
function rawProblem (status: number, detail: string): string {
  const body = JSON.stringify(problemOf(status, detail))
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'X-Content-Type-Options: nosniff\r\n' +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' + body
}

const clip = (text: string): string => text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text

// ---------------------------------------------------------------------------------------------------------
// Middlewares

/** A step of the public front: true when it answered the request itself (nothing further may run). */
export type FrontStep = (req: Request, res: Response) => boolean

/** Headers for a JSON API that browsers may read from any origin but must never render, frame or sniff. */
export const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Resource-Policy', 'cross-origin']
]

function securityStep (): FrontStep {
  return (req, res) => {
    // Node's setHeader: express's res.set adds nothing these need, and this runs on every request.
    res.removeHeader('X-Powered-By')
    for (const [name, value] of SECURITY_HEADERS) res.setHeader(name, value)
    if (req.secure) res.setHeader('Strict-Transport-Security', `max-age=${HSTS_MAX_AGE_S}`)
    return false
  }
}

/** Whether a path is under a prefix, at a segment boundary and in any case (Express matches routes case-insensitively unless told otherwise, so `/ADMIN` reaches the admin router too). */
function under (path: string, prefix: string): boolean {
  const lower = path.toLowerCase()
  const base = prefix.toLowerCase().replace(/\/+$/, '')
  return lower === base || lower.startsWith(`${base}/`)
}

export interface PublicCorsOptions {
  /**
   * Path prefixes whose routers answer CORS themselves (the delegated routing API allows cross-origin PUT and
   * `If-None-Match`, as its spec asks): left alone here.
   */
  ownPolicyPrefixes?: readonly string[]
  /**
   * Paths that any origin may POST to (without credentials): computations on what the request carries, such as
   * `POST /1.0/verify`, which change nothing here. Their preflights are answered and their answers readable.
   */
  crossOriginPosts?: readonly string[]
}

/**
 * CORS for public reads: any origin may GET and HEAD (no credentials: the answer is `*`), and a preflight for
 * a GET with an `Accept` header is answered; likewise POST to the `crossOriginPosts` paths, with a
 * `Content-Type` header. Other methods get no CORS headers, so browsers refuse cross-origin writes. Nothing at
 * all under `/admin`, whatever the options say.
 */
/** What a cross-origin GET or HEAD is answered with: readable by any origin, without credentials. */
export const CORS_READ_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Access-Control-Allow-Origin', '*'],
  ['Access-Control-Expose-Headers', 'Retry-After, X-Request-Id']
]

function corsStep (options: PublicCorsOptions): FrontStep {
  const skipped = [ADMIN_PATH_PREFIX, ...(options.ownPolicyPrefixes ?? [])]
  return (req, res) => {
    if (skipped.some(prefix => under(req.path, prefix))) return false
    if (req.method === 'GET' || req.method === 'HEAD') {
      for (const [name, value] of CORS_READ_HEADERS) res.setHeader(name, value)
      return false
    }
    const posts = options.crossOriginPosts?.includes(req.path) === true
    if (req.method === 'POST' && posts) {
      for (const [name, value] of CORS_READ_HEADERS) res.setHeader(name, value)
      return false
    }
    const wanted = req.get('access-control-request-method')
    if (req.method !== 'OPTIONS' || req.get('origin') === undefined) return false
    if (wanted === 'GET' || wanted === 'HEAD' || (wanted === 'POST' && posts)) {
      res.status(204).set({
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': posts ? 'POST' : 'GET, HEAD',
        'Access-Control-Allow-Headers': posts ? 'Content-Type, Accept' : 'Accept',
        'Access-Control-Max-Age': String(CORS_MAX_AGE_S)
      }).end()
      return true
    }
    return false
  }
}

/** The client a request counts against: the socket's peer, or the forwarded address when proxies are trusted. */
export function clientAddress (req: Request, trustProxy: TrustProxy): string {
  // With no proxy trusted, `req.ip` is ignored: a wrong `trust proxy` app setting must not let clients pick their key.
  const address = (trustProxy === false ? req.socket.remoteAddress : req.ip ?? req.socket.remoteAddress) ?? 'unknown'
  return clientKey(address)
}

/** IPv4 as is; IPv6 by its /64, since one subscriber usually holds a whole /64 and could rotate through it. */
export function clientKey (address: string): string {
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!address.includes(':')) return address.slice(0, 64)
  const [head = '', tail, ...more] = (address.split('%')[0] ?? '').split('::')
  if (more.length > 0) return address.slice(0, 64)
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const embeddedIpv4 = (right.at(-1) ?? left.at(-1) ?? '').includes('.') ? 1 : 0
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length - embeddedIpv4)).fill('0'), ...right]
  const prefix = groups.slice(0, 4).map(group => /^[0-9a-f]{1,4}$/i.test(group) ? Number.parseInt(group, 16).toString(16) : '?')
  return `${prefix.join(':')}::/64`
}

/**
 * A token bucket per client: `burst` tokens, refilled at `requestsPerWindow` per `windowMs`. A request without a
 * token is answered 429 with `Retry-After` (seconds until one token is back). Memory is bounded: at most
 * `maxClients` buckets, the least recently seen dropped first (a dropped client starts again with a full bucket).
 */
interface RateLimitParts {
  step: FrontStep
  /** Takes a token for the request's client: undefined when there was one, else the seconds until one is back. */
  take: (req: Request) => number | undefined
  /** The 429 answer for a request `take` refused. */
  refuse: (res: Response, retryAfterS: number) => void
  trackedClients: () => number
}

function rateLimitStep (limits: Pick<HttpLimits, 'rateLimit' | 'trustProxy'>, clock: Clock): RateLimitParts {
  const { requestsPerWindow, windowMs, burst, maxClients } = limits.rateLimit
  const refillPerMs = requestsPerWindow / windowMs
  const buckets = new Map<string, { tokens: number, atMs: number }>()
  const take = (req: Request): number | undefined => {
    const key = clientAddress(req, limits.trustProxy)
    const nowMs = clock()
    let bucket = buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: burst, atMs: nowMs }
      if (buckets.size >= maxClients) {
        const oldest = buckets.keys().next()
        if (oldest.done !== true) buckets.delete(oldest.value)
      }
    } else {
      buckets.delete(key) // re-inserted below: a Map iterates in insertion order, so this keeps it in LRU order
      bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, nowMs - bucket.atMs) * refillPerMs)
      bucket.atMs = nowMs
    }
    buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return undefined
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000))
  }
  const refuse = (res: Response, retryAfterS: number): void => {
    res.set('Retry-After', String(retryAfterS))
    sendProblem(res, 429, `too many requests from this client: at most ${requestsPerWindow} per ${windowMs / 1000} s, in bursts of ${burst}; retry in ${retryAfterS} s`)
  }
  const step: FrontStep = (req, res) => {
    const retryAfterS = take(req)
    if (retryAfterS === undefined) return false
    refuse(res, retryAfterS)
    return true
  }
  return { step, take, refuse, trackedClients: () => buckets.size }
}

/** 414 for URLs longer than the limit, 400 for a path that is not validly percent-encoded UTF-8. */
function urlStep (limits: Pick<HttpLimits, 'maxUrlBytes'>, options: { ownDecodingPrefixes?: readonly string[] }): FrontStep {
  return (req, res) => {
    if (Buffer.byteLength(req.originalUrl, 'latin1') > limits.maxUrlBytes) {
      sendProblem(res, 414, `the URL is longer than ${limits.maxUrlBytes} bytes`)
      return true
    }
    // Routers that answer bad encoding in their own format (the resolution API: a resolution result) do so.
    if (options.ownDecodingPrefixes?.some(prefix => under(req.path, prefix)) === true) return false
    try {
      decodeURIComponent(req.path)
    } catch {
      sendProblem(res, 400, 'the URL path is not validly percent-encoded UTF-8')
      return true
    }
    return false
  }
}

interface RequestLocals {
  requestId: string
  log: Logger
}

/** What the request-id step leaves on `res.locals`: plain fields, set once per request (no getters: this is hot). */
interface RequestIdLocals {
  requestId?: string
  requestLogger?: Logger
  requestLog?: Logger
}

/** The request's id and child logger (made on first use), set by the front. */
export function requestContext (res: Response): RequestLocals | undefined {
  const locals = res.locals as RequestIdLocals
  if (locals.requestId === undefined || locals.requestLogger === undefined) return undefined
  locals.requestLog ??= locals.requestLogger.child({ reqId: locals.requestId })
  return { requestId: locals.requestId, log: locals.requestLog }
}

/** The id a request is known by: the client's `X-Request-Id` when it is a short token, a random UUID otherwise. */
export function requestIdOf (req: IncomingMessage): string {
  const offered = req.headers['x-request-id']
  return typeof offered === 'string' && REQUEST_ID_RE.test(offered) ? offered : randomUUID()
}

/** What one access-log line says about a request that ended. */
export interface AccessRecord {
  requestId: string
  method: string | undefined
  /** The request target as received (its query values are never logged, only its option names). */
  url: string
  status: number
  startedMs: number
  remoteAddress: string | undefined
  aborted: boolean
}

/** Writes the access-log line of a request: method, path, query option names, status, duration. */
export function logAccess (accessLogger: Logger, record: AccessRecord): void {
  const { url } = record
  const queryAt = url.indexOf('?')
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt)
  const line: Record<string, unknown> = {
    reqId: record.requestId,
    method: record.method,
    path: rawPath.length > MAX_LOGGED_PATH_CHARS ? `${rawPath.slice(0, MAX_LOGGED_PATH_CHARS)}…` : rawPath
  }
  if (queryAt !== -1 && queryAt !== url.length - 1) {
    line.queryKeys = url.slice(queryAt + 1).split('&').slice(0, MAX_LOGGED_QUERY_KEYS).map(pair => (pair.split('=', 1)[0] ?? '').slice(0, 64))
  }
  line.status = record.status
  line.durationMs = Math.round((performance.now() - record.startedMs) * 10) / 10
  line.remoteAddress = record.remoteAddress
  if (record.aborted) line.aborted = true
  // 501 refuses what the client asked for (an unsupported option, dereferencing): not a failure of the daemon.
  if (record.status >= 500 && record.status !== 501) accessLogger.error(line, 'request')
  else accessLogger.info(line, 'request')
}

/** Leaves the request's id and logger where `requestContext` finds them. */
function setRequestLocals (res: Response, requestId: string, logger: Logger): void {
  const locals = res.locals as RequestIdLocals
  locals.requestId = requestId
  locals.requestLogger = logger
}

/** Logs the request's line once its answer is finished or its connection is gone. */
function logWhenClosed (req: Request, res: Response, accessLogger: Logger, requestId: string, startedMs: number): void {
  const { method, originalUrl: url } = req
  const remoteAddress = req.socket.remoteAddress
  res.once('close', () => {
    logAccess(accessLogger, { requestId, method, url, status: res.statusCode, startedMs, remoteAddress, aborted: !res.writableFinished })
  })
}

/**
 * Gives each request an id, echoed in `X-Request-Id`, and a child logger on demand (`requestContext`); logs one
 * line when it ends: method, path (query option names only, never values), status, duration. Headers and bodies
 * are never logged.
 */
function requestIdStep (logger: Logger, accessLogger: Logger): FrontStep {
  return (req, res) => {
    const requestId = requestIdOf(req)
    setRequestLocals(res, requestId, logger)
    res.setHeader('X-Request-Id', requestId)
    logWhenClosed(req, res, accessLogger, requestId, performance.now())
    return false
  }
}

/**
 * A route the front answers itself, before the router: warm resolution. `match` decides from the request line
 * and headers alone, before anything is done, and returns what it read there (the DID); `answer` writes the
 * whole answer, sending `head` (the front's headers, as name/value pairs) with it, and rejects only when it
 * wrote nothing.
 */
export interface HotRoute {
  match: (req: Request) => string | undefined
  answer: (req: Request, res: Response, head: string[], matched: string) => Promise<void>
}

export interface PublicFrontOptions {
  limits: Pick<HttpLimits, 'maxUrlBytes' | 'rateLimit' | 'trustProxy'>
  clock?: Clock
  /** Request ids and the access log; without a logger, neither. */
  logger?: Logger
  accessLogger?: Logger
  cors?: PublicCorsOptions
  /** Path prefixes whose routers answer bad percent-encoding themselves (414 and 400 otherwise). */
  ownDecodingPrefixes?: readonly string[]
  /** Exact paths outside the rate limit (the probes: a flood must not get a healthy daemon restarted). */
  unlimitedPaths?: readonly string[]
  hot?: HotRoute
}

/**
 * Security headers → request id → CORS → URL limit → rate limit (except `unlimitedPaths`), as steps of one
 * middleware rather than an express layer each.
 *
 * A request the hot route accepts (a short public GET, so the CORS and URL steps have nothing to refuse) takes
 * its rate-limit token first and is then answered by the hot route with the same headers the steps would have
 * set, written at once with the answer, and its access line written when the answer is: no per-header
 * `setHeader`, no listener per request. Refused by the rate limit, it goes through the steps like any other.
 */
export type PublicFront = RequestHandler & {
  /** How many clients the rate limit tracks now (never more than `maxClients`). */
  trackedClients: () => number
}

export function publicFront (options: PublicFrontOptions): PublicFront {
  const clock = options.clock ?? systemClock
  const { logger, hot } = options
  const accessLogger = options.accessLogger ?? logger
  const steps: FrontStep[] = [
    securityStep(),
    ...(logger === undefined || accessLogger === undefined ? [] : [requestIdStep(logger, accessLogger)]),
    corsStep(options.cors ?? {}),
    urlStep(options.limits, { ownDecodingPrefixes: options.ownDecodingPrefixes ?? [] })
  ]
  const rate = rateLimitStep(options.limits, clock)
  const unlimited = new Set(options.unlimitedPaths ?? [])
  const fixedHead = [...SECURITY_HEADERS, ...CORS_READ_HEADERS].flat()
  const maxUrlBytes = options.limits.maxUrlBytes

  const answerHot = (route: HotRoute, matched: string, req: Request, res: Response, next: NextFunction): void => {
    const startedMs = performance.now()
    const head = [...fixedHead]
    if (req.secure) head.push('Strict-Transport-Security', `max-age=${HSTS_MAX_AGE_S}`)
    let requestId: string | undefined
    if (logger !== undefined) {
      requestId = requestIdOf(req)
      head.push('X-Request-Id', requestId)
      setRequestLocals(res, requestId, logger)
    }
    route.answer(req, res, head, matched).then(() => {
      if (accessLogger === undefined || requestId === undefined) return
      logAccess(accessLogger, { requestId, method: req.method, url: req.originalUrl, status: res.statusCode, startedMs, remoteAddress: req.socket.remoteAddress, aborted: res.destroyed && !res.writableFinished })
    }, (err: unknown) => {
      // Nothing was written: the error handler answers, with the front's headers and the line when it is done.
      for (let i = 0; i < head.length; i += 2) res.setHeader(head[i]!, head[i + 1]!)
      if (accessLogger !== undefined && requestId !== undefined) logWhenClosed(req, res, accessLogger, requestId, startedMs)
      next(err)
    })
  }

  const front: RequestHandler = (req, res, next) => {
    const matched = hot !== undefined && req.originalUrl.length <= maxUrlBytes ? hot.match(req) : undefined
    if (hot !== undefined && matched !== undefined) {
      const retryAfterS = rate.take(req)
      if (retryAfterS === undefined) {
        answerHot(hot, matched, req, res, next)
        return
      }
      for (const step of steps) if (step(req, res)) return
      rate.refuse(res, retryAfterS)
      return
    }
    for (const step of steps) if (step(req, res)) return
    if (unlimited.has(req.path)) { next(); return }
    if (rate.step(req, res)) return
    next()
  }
  return Object.assign(front, { trackedClients: rate.trackedClients })
}

/** 404 problem for anything no route answered. */
export function notFound (): RequestHandler {
  return (_req, res) => { sendProblem(res, 404, 'no such resource') }
}

/** The status and public detail of an error reaching the final handler. */
export function classifyError (err: unknown): { status: number, detail: string } {
  if (err instanceof URIError) return { status: 400, detail: 'the URL is not validly percent-encoded UTF-8' }
  const e = (typeof err === 'object' && err !== null ? err : {}) as { status?: unknown, statusCode?: unknown, type?: unknown, expose?: unknown, message?: unknown, limit?: unknown }
  switch (e.type) {
    case 'entity.too.large':
      return { status: 413, detail: typeof e.limit === 'number' ? `the body is larger than ${e.limit} bytes` : 'the body is too large' }
    case 'entity.parse.failed':
      return { status: 400, detail: 'the body is not valid JSON' } // the parser's message quotes the body: not repeated
    case 'charset.unsupported':
      return { status: 415, detail: 'the body\'s charset is not supported (use utf-8)' }
    case 'encoding.unsupported':
      return { status: 415, detail: 'the body\'s Content-Encoding is not supported (use identity, gzip, deflate or br)' }
    case 'request.aborted':
      return { status: 400, detail: 'the request was aborted before its body was read' }
    case 'request.size.invalid':
      return { status: 400, detail: 'the body\'s length does not match its Content-Length' }
    case 'parameters.too.many':
      return { status: 413, detail: 'the body has too many parameters' }
  }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    return { status, detail: e.expose === true && typeof e.message === 'string' ? clip(e.message) : STATUS_CODES[status] ?? 'bad request' }
  }
  return { status: 500, detail: 'the request could not be completed; quote the request id when reporting this' }
}

/**
 * The final error handler: body-parser errors, URIError from a route parameter and anything else become a
 * problem document; a 500 says nothing of the cause (which is logged with the request id instead).
 */
export function problemErrors (logger?: Logger): ErrorRequestHandler {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const context = requestContext(res)
    const log = context?.log ?? logger
    if (res.headersSent) {
      log?.warn({ err: errorForLog(err) }, 'error after the answer began: connection closed')
      res.destroy()
      return
    }
    const { status, detail } = classifyError(err)
    if (status >= 500) log?.error({ err: errorForLog(err) }, 'request failed')
    sendProblem(res, status, detail, context === undefined ? {} : { requestId: context.requestId })
  }
}

/** An error for the log: name, message and stack only (body-parser errors carry the raw body as a property). */
function errorForLog (err: unknown): { name: string, message: string, stack?: string } {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }) }
  return { name: typeof err, message: String(err) }
}

// ---------------------------------------------------------------------------------------------------------
// Server

type ServerLimits = Pick<HttpLimits, 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'socketIdleTimeoutMs' | 'maxHeadersCount' | 'maxConnections'>

/**
 * Timeouts against slow clients (slowloris: heads or bodies sent a byte at a time; idle and non-reading
 * sockets) and bounds on headers and connections. `maxHeaderBytes` and the timeout check interval can only be
 * set when the server is made: `createHttpServer` does both.
 */
export function applyServerTimeouts (server: Server, limits: ServerLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new HttpServerError(`the headers timeout (${limits.headersTimeoutMs} ms) must not exceed the request timeout (${limits.requestTimeoutMs} ms)`)
  }
  server.headersTimeout = limits.headersTimeoutMs
  server.requestTimeout = limits.requestTimeoutMs
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxHeadersCount = limits.maxHeadersCount
  server.maxConnections = limits.maxConnections
  server.setTimeout(limits.socketIdleTimeoutMs) // without a 'timeout' listener, an idle socket is destroyed
}

/**
 * Answers what the HTTP parser rejects (malformed request lines and headers, heads too large, timeouts, unknown
 * methods) with a problem document instead of Node's bare status line, and CONNECT with 405 instead of a reset.
 */
export function answerClientErrors (server: Server, logger?: Logger): void {
  const answer = (socket: Duplex, status: number, detail: string): void => {
    logger?.debug({ status, remoteAddress: (socket as { remoteAddress?: string }).remoteAddress }, 'request refused by the HTTP parser')
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage // Node's own check: never interleave with an answer begun
    if (socket.writable && !socket.writableEnded && inFlight?.headersSent !== true) socket.end(rawProblem(status, detail))
    setTimeout(() => { socket.destroy() }, CLIENT_ERROR_LINGER_MS).unref()
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    switch (err.code) {
      case 'HPE_HEADER_OVERFLOW': answer(socket, 431, 'the request line and headers are too large'); break
      case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': answer(socket, 413, 'chunk extensions are too large'); break
      case 'ERR_HTTP_REQUEST_TIMEOUT': answer(socket, 408, 'the request was not received in time'); break
      default: answer(socket, 400, 'the request is not valid HTTP/1.1')
    }
  })
  server.on('connect', (_req, socket: Duplex) => { answer(socket, 405, 'CONNECT is not supported') })
  // Without a listener, Node answers an Expect other than 100-continue with a bare 417 (no body).
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    writeProblem(res, 417, 'the only expectation supported is 100-continue')
  })
}

/** A problem document written with Node's own API, for answers given before (or instead of) the app. */
function writeProblem (res: ServerResponse, status: number, detail: string): void {
  const body = JSON.stringify(problemOf(status, detail))
  res.writeHead(status, {
    'Content-Type': PROBLEM_MEDIA_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    Connection: 'close'
  })
  res.end(body)
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host header is a 400. Node's own check
 * (`requireHostHeader`) answers a missing Host with a bare 400 and lets a repeated one through, so it is turned
 * off and this answers instead, with a problem document.
 */
function requireOneHost (app: RequestListener): RequestListener {
  return (req, res) => {
    if (req.httpVersion === '1.1' && req.headersDistinct.host?.length !== 1) {
      writeProblem(res, 400, 'an HTTP/1.1 request must have exactly one Host header')
      return
    }
    app(req, res)
  }
}

export interface HttpServerOptions {
  /** PEM certificate (chain) and private key: both or neither. With both, the server speaks HTTPS only. */
  tlsCertFile?: string
  tlsKeyFile?: string
  limits?: HttpLimits
  /** Requests the HTTP parser refuses never reach the app; they are logged here (debug). */
  logger?: Logger
}

/** An HTTP or HTTPS server for the app, with every server-level limit applied. Throws `HttpServerError`. */
export function createHttpServer (app: RequestListener, options: HttpServerOptions = {}): Server {
  const limits = options.limits ?? DEFAULT_HTTP_LIMITS
  const { tlsCertFile, tlsKeyFile } = options
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new HttpServerError('TLS needs both a certificate file and a key file')
  }
  const serverOptions: ServerOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckIntervalMs,
    requireHostHeader: false // requireOneHost answers instead, with a problem document
  }
  const listener = requireOneHost(app)
  let server: Server
  if (tlsCertFile !== undefined && tlsKeyFile !== undefined) {
    const cert = readTlsFile(tlsCertFile, 'certificate')
    const key = readTlsFile(tlsKeyFile, 'private key')
    try {
      server = createTlsServer({ ...serverOptions, cert, key, minVersion: 'TLSv1.2' }, listener)
    } catch (err) {
      throw new HttpServerError(`the TLS certificate ${tlsCertFile} and key ${tlsKeyFile} cannot be used together: ${(err as Error).message}`, { cause: err })
    }
  } else {
    server = createPlainServer(serverOptions, listener)
  }
  applyServerTimeouts(server, limits)
  answerClientErrors(server, options.logger)
  return server
}

function readTlsFile (path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new HttpServerError(`cannot read the TLS ${what} file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

// ---------------------------------------------------------------------------------------------------------
// Readiness

export interface ReadinessCheck {
  name: string
  /** Resolves when the dependency is usable; should stop when the signal aborts. */
  check: (signal: AbortSignal) => Promise<void>
}

export type CheckOutcome = 'ok' | 'failed' | 'timed out'

export interface ReadinessReport {
  status: 'ready' | 'not ready'
  checks: Record<string, CheckOutcome>
}

/**
 * `GET /readyz`: runs every check in parallel within the deadline; 200 when all pass, 503 naming the ones that
 * failed or timed out. Failure messages are logged, not shown (they may name internal hosts). Requests that
 * arrive while a run is in flight share it, so a flood of probes runs the checks once at a time.
 */
export function readiness (checks: ReadinessCheck[], deadlineMs: number = READINESS_DEADLINE_MS): RequestHandler {
  let running: Promise<{ report: ReadinessReport, errors: Array<{ name: string, err: unknown }> }> | undefined
  const run = async (): Promise<{ report: ReadinessReport, errors: Array<{ name: string, err: unknown }> }> => {
    const controller = new AbortController()
    const timer = setTimeout(() => { controller.abort(new Error(`readiness deadline of ${deadlineMs} ms passed`)) }, deadlineMs)
    const deadline = new Promise<CheckOutcome>(resolve => {
      controller.signal.addEventListener('abort', () => { resolve('timed out') }, { once: true })
    })
    const errors: Array<{ name: string, err: unknown }> = []
    try {
      const outcomes = await Promise.all(checks.map(async ({ name, check }): Promise<[string, CheckOutcome]> => {
        try {
          return [name, await Promise.race([check(controller.signal).then((): CheckOutcome => 'ok'), deadline])]
        } catch (err) {
          errors.push({ name, err })
          return [name, controller.signal.aborted ? 'timed out' : 'failed']
        }
      }))
      const report: ReadinessReport = {
        status: outcomes.every(([, outcome]) => outcome === 'ok') ? 'ready' : 'not ready',
        checks: Object.fromEntries(outcomes)
      }
      return { report, errors }
    } finally {
      clearTimeout(timer)
      controller.abort()
    }
  }
  return (_req, res, next) => {
    running ??= run().finally(() => { running = undefined })
    running.then(({ report, errors }) => {
      const log = requestContext(res)?.log
      for (const { name, err } of errors) log?.warn({ check: name, err: errorForLog(err) }, 'readiness check failed')
      res.status(report.status === 'ready' ? 200 : 503).set('Cache-Control', 'no-store').json(report)
    }, next)
  }
}
