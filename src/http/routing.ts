/**
 * The Delegated Routing V1 HTTP API for IPNS (ipfs/specs `src/routing/http-routing-v1.md`, "IPNS API"):
 * `GET` and `PUT /routing/v1/ipns/{name}`, as an express router mounted at the root.
 *
 * - `{name}` is any spelling of a libp2p-key name the did:ipid parser accepts: base36 `k51…`, base32 `bafz…`
 *   (what `@helia/delegated-routing-v1-http-api-client` sends), or a base58btc peer id (`12D3KooW…`, `Qm…`).
 * - GET answers the raw record (`application/vnd.ipfs.ipns-record`) with the spec's caching headers (`Etag`,
 *   `Cache-Control` from the record's TTL and validity, `Expires`, `Last-Modified`, `Vary: Accept`), 404 when
 *   no record is known, 406 when the client does not accept the record type.
 * - PUT takes the raw record, at most `MAX_RECORD_BYTES` (413 beyond, refused without reading the rest),
 *   answers 200 when it is accepted or already held, 400 when it is invalid, 406 for another Content-Type, and
 *   409 when it would roll the name back or fork it (the spec names no status for this case).
 * - Errors are RFC 9457 problem documents (`application/problem+json`); internal errors say nothing more.
 * - CORS is open, as the spec requires for browser clients.
 */
import { CacheStoreError } from '../cache/store.ts'
import { createHash } from 'node:crypto'
import express from 'express'
import { unmarshalIPNSRecord } from 'ipns'
import { DID_PREFIX, parseDid } from '../did/identifier.ts'
import { InvalidRecordError, IpidError } from '../errors.ts'
import { MAX_RECORD_BYTES } from '../ipns/record.ts'
import type { IpidName } from '../did/identifier.ts'
import type { Logger } from '../log.ts'
import type { Request, Response } from 'express'
import { sendProblem } from './problem.ts'

export type RecordOutcome = 'accepted' | 'unchanged' | 'refused'

export interface RoutingContext {
  /** The best valid record held or found for the name (marshalled), or undefined. */
  getRecord: (name: IpidName, signal: AbortSignal) => Promise<Uint8Array | undefined>
  /** Validates and offers a record; throws an IpidError (src/errors.ts) when the record is invalid. */
  putRecord: (name: IpidName, record: Uint8Array, signal: AbortSignal) => Promise<RecordOutcome>
  /** Where internal failures are reported (their details never reach the client). */
  logger?: Pick<Logger, 'error'>
}

export const IPNS_RECORD_MEDIA_TYPE = 'application/vnd.ipfs.ipns-record'
export { PROBLEM_MEDIA_TYPE } from './problem.ts'
export const ROUTING_IPNS_PATH = '/routing/v1/ipns/:name'
/**
 * Deadline of one routing request (body upload, lookups and validation included). Shorter than the official
 * client's own 30 s timeout, so that a slow lookup ends in an answer (504) rather than in a dropped request.
 */
export const ROUTING_REQUEST_DEADLINE_MS = 15_000
/** `max-age` of a record whose TTL is absent or zero (the spec's default). */
export const ROUTING_DEFAULT_MAX_AGE_S = 60
/** `max-age` of a "no record" answer: short, so that a name published a moment later is seen soon. */
export const ROUTING_NOT_FOUND_MAX_AGE_S = 15
/** What a client is told to wait before retrying a PUT whose content could not be fetched in time. */
export const ROUTING_RETRY_AFTER_S = 5

const NS_PER_S = 1_000_000_000n
const NAME_CHARS_RE = /^[A-Za-z0-9]+$/
const ALLOWED_METHODS = 'GET, HEAD, PUT, OPTIONS'

export function routingRouter (ctx: RoutingContext): express.Router {
  const router = express.Router({ caseSensitive: true })

  // CORS (spec, "CORS and Web Browsers"): every origin may read, and publish (records are self-certifying).
  router.use(ROUTING_IPNS_PATH, (_req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*')
    res.set('Access-Control-Expose-Headers', 'Etag')
    next()
  })

  router.options(ROUTING_IPNS_PATH, (_req, res) => {
    res.status(204)
      .set('Access-Control-Allow-Methods', ALLOWED_METHODS)
      .set('Access-Control-Allow-Headers', 'Accept, Content-Type, If-None-Match')
      .set('Access-Control-Max-Age', '86400')
      .set('Allow', ALLOWED_METHODS)
      .end()
  })

  router.get(ROUTING_IPNS_PATH, async (req, res) => {
    res.vary('Accept')
    const name = nameOrProblem(req, res)
    if (name === undefined) return
    if (!acceptsRecord(req)) {
      problem(res, 406, `this endpoint answers ${IPNS_RECORD_MEDIA_TYPE} only: retry with "Accept: ${IPNS_RECORD_MEDIA_TYPE}"`)
      return
    }
    const deadline = requestDeadline(res)
    try {
      const record = await ctx.getRecord(name, deadline.signal)
      if (res.destroyed) return
      if (record === undefined) {
        res.set('Cache-Control', `public, max-age=${ROUTING_NOT_FOUND_MAX_AGE_S}`)
        problem(res, 404, `no valid IPNS record is known for ${name.id}`)
        return
      }
      sendRecord(req, res, record, Date.now())
    } catch (err) {
      if (err instanceof IpidError && err.code === 'notFound') {
        res.set('Cache-Control', `public, max-age=${ROUTING_NOT_FOUND_MAX_AGE_S}`)
        problem(res, 404, `no valid IPNS record is known for ${name.id}: ${err.message}`, { reason: err.reason })
        return
      }
      failed(ctx, res, deadline, err, name, 'GET')
    } finally {
      deadline.dispose()
    }
  })

  router.put(ROUTING_IPNS_PATH, async (req, res) => {
    const name = nameOrProblem(req, res)
    if (name === undefined) {
      unread(res)
      return
    }
    const type = mediaTypeOf(req.get('content-type'))
    if (type !== undefined && type !== IPNS_RECORD_MEDIA_TYPE) {
      unread(res)
      problem(res, 406, `the body must be an IPNS record: retry with "Content-Type: ${IPNS_RECORD_MEDIA_TYPE}"`)
      return
    }
    const deadline = requestDeadline(res)
    try {
      const body = await readBody(req, MAX_RECORD_BYTES, deadline.signal)
      if (body.kind !== 'bytes') {
        unread(res)
        if (body.kind === 'too_large') problem(res, 413, `an IPNS record is at most ${MAX_RECORD_BYTES} bytes`)
        else if (body.kind === 'encoded') problem(res, 415, 'the body must not be content-encoded')
        else if (deadline.expired()) problem(res, 408, `the record was not received within ${ROUTING_REQUEST_DEADLINE_MS} ms`)
        // Otherwise the client went away: nobody to answer.
        return
      }
      if (body.bytes.byteLength === 0) {
        problem(res, 400, 'the body is empty: it must be an IPNS record', { reason: 'empty_body' })
        return
      }
      const outcome = await ctx.putRecord(name, body.bytes, deadline.signal)
      if (res.destroyed) return
      if (outcome === 'refused') {
        problem(res, 409, `the record is older than the one held for ${name.id}, or forks its history: accepting it would roll the identity back or fork it`, { reason: 'rollback_or_fork' })
        return
      }
      if (outcome !== 'accepted' && outcome !== 'unchanged') throw new Error(`unknown outcome ${String(outcome)}`)
      res.status(200).end()
    } catch (err) {
      if (err instanceof IpidError && (err.code === 'notFound' && !(err instanceof InvalidRecordError))) {
        // The record may be fine, but what it points at could not be fetched to verify it: try again later.
        res.set('Retry-After', String(ROUTING_RETRY_AFTER_S))
        problem(res, 503, `the record could not be verified yet: ${err.message}`, { reason: err.reason, code: err.code })
        return
      }
      if (err instanceof IpidError && err.reason === 'cache_contention') {
        res.set('Retry-After', '1')
        problem(res, 503, err.message, { reason: err.reason, code: err.code })
        return
      }
      if (err instanceof CacheStoreError) {
        // A shared store that does not answer (stopped, hung, failing over): nothing was stored; try again.
        res.set('Retry-After', String(ROUTING_RETRY_AFTER_S))
        problem(res, 503, 'the cache store did not answer: the record was not stored', { reason: 'cache_unavailable' })
        return
      }
      if (err instanceof IpidError) {
        problem(res, 400, `invalid IPNS record: ${err.message}`, { reason: err.reason, code: err.code })
        return
      }
      failed(ctx, res, deadline, err, name, 'PUT')
    } finally {
      deadline.dispose()
    }
  })

  // Spec, "Error Codes": 501 for a method the endpoint does not support.
  router.all(ROUTING_IPNS_PATH, (req, res) => {
    unread(res)
    res.set('Allow', ALLOWED_METHODS)
    problem(res, 501, `${req.method} is not supported here; use GET or PUT`)
  })

  return router
}

/** The name in the path, or undefined after answering 400. */
function nameOrProblem (req: Request, res: Response): IpidName | undefined {
  const text = String(req.params.name ?? '')
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
  if (!NAME_CHARS_RE.test(text)) {
    problem(res, 400, `${shown} is not an IPNS name: names hold only letters and digits (a libp2p-key CID or a peer id)`, { reason: 'malformed_id' })
    return undefined
  }
  try {
    return parseDid(DID_PREFIX + text)
  } catch (err) {
    if (!(err instanceof IpidError)) throw err
    problem(res, 400, `${shown} is not an IPNS name of a libp2p key: ${err.message}`, { reason: err.reason })
    return undefined
  }
}

/** No Accept header, `*\/*`, `application/*` or the record type (with q > 0). */
function acceptsRecord (req: Request): boolean {
  const accept = req.get('accept')
  if (accept === undefined || accept.trim() === '') return true
  return req.accepts(IPNS_RECORD_MEDIA_TYPE) !== false
}

function mediaTypeOf (header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined
  return (header.split(';')[0] ?? '').trim().toLowerCase()
}

function sendRecord (req: Request, res: Response, record: Uint8Array, nowMs: number): void {
  const body = Buffer.from(record.buffer, record.byteOffset, record.byteLength)
  const { maxAgeS, validUntilMs } = cachingOf(record)
  const remainingS = validUntilMs === undefined ? undefined : Math.max(0, Math.floor((validUntilMs - nowMs) / 1000))
  // Never let a cache keep the record past its EOL: max-age is the TTL, bounded by the remaining validity.
  const maxAge = remainingS === undefined ? maxAgeS : Math.min(maxAgeS, remainingS)
  const cacheControl = [`public, max-age=${maxAge}`]
  if (remainingS !== undefined && remainingS > 0) cacheControl.push(`stale-while-revalidate=${remainingS}`, `stale-if-error=${remainingS}`)
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`
  res.status(200)
    .type(IPNS_RECORD_MEDIA_TYPE)
    .set('Etag', etag)
    .set('Cache-Control', cacheControl.join(', '))
    .set('Last-Modified', new Date(nowMs).toUTCString())
  if (validUntilMs !== undefined) res.set('Expires', new Date(validUntilMs).toUTCString())
  // Answered here rather than by express, which refuses 304 to a request carrying `Cache-Control: no-cache`
  // (fetch() adds it to every conditional request). Weak comparison, RFC 9110 §13.1.2.
  const header = req.get('if-none-match')
  if (header !== undefined && (header.trim() === '*' || header.split(',').some(tag => tag.trim().replace(/^W\//, '') === etag))) {
    res.status(304).end()
    return
  }
  res.send(body)
}

/** TTL (whole seconds, the spec's default when absent or zero) and EOL of a record; undefined EOL if unreadable. */
function cachingOf (record: Uint8Array): { maxAgeS: number, validUntilMs?: number } {
  try {
    const decoded = unmarshalIPNSRecord(record)
    const ttlNs = decoded.ttl ?? 0n
    const maxAgeS = ttlNs > 0n ? Number(ttlNs / NS_PER_S) : ROUTING_DEFAULT_MAX_AGE_S
    const validUntilMs = Date.parse(decoded.validity)
    return Number.isNaN(validUntilMs) ? { maxAgeS } : { maxAgeS, validUntilMs }
  } catch {
    return { maxAgeS: ROUTING_DEFAULT_MAX_AGE_S }
  }
}

interface Deadline {
  /** Aborts at the deadline, or when the client goes away before its answer is written. */
  signal: AbortSignal
  expired: () => boolean
  dispose: () => void
}

function requestDeadline (res: Response): Deadline {
  const gone = new AbortController()
  const onClose = (): void => { if (!res.writableFinished) gone.abort(new Error('the client closed the connection')) }
  res.once('close', onClose)
  const timeout = AbortSignal.timeout(ROUTING_REQUEST_DEADLINE_MS)
  return {
    signal: AbortSignal.any([gone.signal, timeout]),
    expired: () => timeout.aborted,
    dispose: () => { res.removeListener('close', onClose) }
  }
}

type Body =
  | { kind: 'bytes', bytes: Uint8Array }
  | { kind: 'too_large' }
  | { kind: 'encoded' }
  | { kind: 'aborted' }

/**
 * Reads at most `limit` bytes of body. A declared Content-Length over the limit is refused before reading
 * anything; a chunked body is refused as soon as it passes the limit. Nothing beyond is read.
 */
async function readBody (req: Request, limit: number, signal: AbortSignal): Promise<Body> {
  const declared = req.get('content-length')
  if (declared !== undefined && Number(declared) > limit) return { kind: 'too_large' }
  const encoding = req.get('content-encoding')
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return { kind: 'encoded' }
  return new Promise(resolve => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (body: Body): void => {
      req.removeListener('data', onData)
      req.removeListener('end', onEnd)
      req.removeListener('error', onError)
      signal.removeEventListener('abort', onAbort)
      if (body.kind !== 'bytes') req.pause()
      resolve(body)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength
      if (size > limit) {
        finish({ kind: 'too_large' })
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => { finish({ kind: 'bytes', bytes: new Uint8Array(Buffer.concat(chunks, size)) }) }
    const onError = (): void => { finish({ kind: 'aborted' }) }
    const onAbort = (): void => { finish({ kind: 'aborted' }) }
    if (signal.aborted) {
      onAbort()
      return
    }
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', onError)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Answering before the body is read: close the connection afterwards instead of reading the rest. */
function unread (res: Response): void {
  res.set('Connection', 'close')
}

function failed (ctx: RoutingContext, res: Response, deadline: Deadline, err: unknown, name: IpidName, method: string): void {
  if (res.destroyed) return
  if (deadline.expired()) {
    problem(res, 504, `no answer for ${name.id} within ${ROUTING_REQUEST_DEADLINE_MS} ms`)
    return
  }
  ctx.logger?.error({ err, did: name.did, method }, 'routing request failed')
  problem(res, 500, 'internal error')
}

/** An RFC 9457 problem document; `extensions` are extension members (e.g. `reason`). */
function problem (res: Response, status: number, detail: string, extensions: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end()
    return
  }
  if (status >= 400 && !res.get('Cache-Control')) res.set('Cache-Control', 'no-store')
  sendProblem(res, status, detail, extensions)
}
