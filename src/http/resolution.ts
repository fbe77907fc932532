/**
 * The DID resolution HTTP API: the HTTP(S) binding of W3C DID Resolution (§12.1), plus the Universal
 * Resolver's `/1.0/methods` and `/1.0/testIdentifiers`, as an express router.
 *
 * - `GET /1.0/identifiers/{did}`: the DID URL-encoded (or not, without options), options as query parameters;
 *   `versionId` / `versionTime` may also sit in the DID URL's own query.
 * - `POST /1.0/identifiers/{did}`: the options as a JSON object in the body (the binding's POST form).
 * - `Accept` chooses the whole resolution result or the DID document alone; errors are always the whole
 *   result, whose `didResolutionMetadata.error` is an RFC 9457 problem object (`type`, `title`, `detail`, and
 *   ipidd's `reason`).
 *
 * Inside ipidd a resolution result keeps the did-resolver shape (`error` is a code such as `notFound`, with
 * `reason` and `message` beside it): `toWireResult` / `fromWireResult` convert at this boundary.
 */
import { createHash } from 'node:crypto'
import express from 'express'
import { DID_METHOD, parseDidUrl } from '../did/identifier.ts'
import { IpidError } from '../errors.ts'
import { statusOf, toWireResult } from '../resolver/wire.ts'
import type { DidResolutionResult, ResolveOptions } from '../resolver/resolver.ts'

export { DID_ERROR_TYPE_BASE, DID_ERROR_TYPES, errorCodeOf, errorTypeOf, fromWireResult, problemOf, statusOf, toWireResult } from '../resolver/wire.ts'
export type { ResolutionProblem } from '../resolver/wire.ts'
import type { NextFunction, Request, Response, Router } from 'express'
import type { HotRoute } from './protect.ts'

/** The resolution result's media type (DID Resolution §9). */
export const DID_RESOLUTION_MEDIA_TYPE = 'application/did-resolution'
/** The profile the Universal Resolver and older drafts use for the resolution result. */
export const DID_RESOLUTION_PROFILE = 'https://w3id.org/did-resolution'
/** The older drafts' media type of the resolution result, still sent by Universal Resolver deployments. */
export const LEGACY_DID_RESOLUTION_MEDIA_TYPE = `application/ld+json;profile="${DID_RESOLUTION_PROFILE}"`
/** JSON-LD context of a result served as the legacy JSON-LD type (a JSON-LD document needs one). */
export const DID_RESOLUTION_CONTEXT = 'https://w3id.org/did-resolution/v1'
/** Media types under which the DID document alone is served; ipidd documents are JSON-LD, valid in all. */
export const DID_DOCUMENT_MEDIA_TYPES = ['application/did', 'application/did+ld+json', 'application/did+json', 'application/ld+json', 'application/json'] as const
/** Freshness of an answer when the result does not carry its record's TTL. */
export const DEFAULT_MAX_AGE_S = 60
/** Largest POST body: resolution options are a handful of short strings. */
export const MAX_POST_BODY_BYTES = 16 * 1024
/** Prefix of the DID Resolution error types (§11: codes without a URL are prepended with it). */
/** Resolution options this binding accepts (§4.1, §13.2); `expandRelativeUrls` is a no-op: ipidd documents hold only absolute DID URLs. */
export const RESOLUTION_OPTIONS = ['versionId', 'versionTime', 'noCache', 'expandRelativeUrls'] as const
/** DID parameters of a DID URL that select what is resolved; every other one asks for dereferencing. */
export const VERSION_PARAMETERS = ['versionId', 'versionTime'] as const
export const METHODS_PATH = '/1.0/methods'
export const TEST_IDENTIFIERS_PATH = '/1.0/testIdentifiers'
export const IDENTIFIERS_PATH = '/1.0/identifiers'
/** Body types read as JSON resolution options; any other non-empty body is refused. */
export const JSON_BODY_TYPES = ['application/json', 'application/*+json']

export interface ResolutionContext {
  resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult>
  /** DIDs to list at /1.0/testIdentifiers (the daemon's own identities). */
  testIdentifiers: () => string[]
}

/** One representation this API can serve: the whole result or the document alone. */
export interface Representation {
  /** The Content-Type sent. */
  mediaType: string
  type: string
  subtype: string
  params: Readonly<Record<string, string>>
  full: boolean
  /** Short name used in ETags (an ETag may not hold the quotes of the legacy type). */
  key: string
}

/** In server preference order, which breaks ties: a wildcard gets the whole result, a bare `application/ld+json` the document. */
export const REPRESENTATIONS: readonly Representation[] = [
  { mediaType: DID_RESOLUTION_MEDIA_TYPE, type: 'application', subtype: 'did-resolution', params: {}, full: true, key: 'did-resolution' },
  ...DID_DOCUMENT_MEDIA_TYPES.map(mediaType => {
    const [type = '', subtype = ''] = mediaType.split('/')
    return { mediaType, type, subtype, params: {}, full: false, key: subtype }
  }),
  { mediaType: LEGACY_DID_RESOLUTION_MEDIA_TYPE, type: 'application', subtype: 'ld+json', params: { profile: DID_RESOLUTION_PROFILE }, full: true, key: 'did-resolution-ld' }
]

/** The representation an `Accept` header asks for, or undefined when none is acceptable (406). */
/** Accept headers seen lately and what they chose: clients send the same few again and again. */
export const NEGOTIATION_CACHE_SIZE = 256
const negotiated = new Map<string, Representation | null>()

export function negotiate (accept: string | undefined): Representation | undefined {
  if (accept === undefined) return negotiateUncached(undefined)
  const known = negotiated.get(accept)
  if (known !== undefined) return known ?? undefined
  const chosen = negotiateUncached(accept)
  if (negotiated.size >= NEGOTIATION_CACHE_SIZE) negotiated.delete(negotiated.keys().next().value as string)
  negotiated.set(accept, chosen ?? null)
  return chosen
}

function negotiateUncached (accept: string | undefined): Representation | undefined {
  const ranges = accept === undefined ? [] : parseAccept(accept)
  if (ranges.length === 0) return REPRESENTATIONS[0] // no (usable) Accept: the whole result
  let best: { rep: Representation, q: number, index: number } | undefined
  for (const rep of REPRESENTATIONS) {
    // RFC 9110 §12.5.1: the most specific matching range gives a type its weight.
    let chosen: { range: MediaRange, specificity: number } | undefined
    for (const range of ranges) {
      const specificity = matchRange(range, rep)
      if (specificity > (chosen?.specificity ?? -1)) chosen = { range, specificity }
    }
    if (chosen === undefined || chosen.range.q === 0) continue
    const { q, index } = chosen.range
    // Highest q wins; then the range written first; then the server's order.
    if (best === undefined || q > best.q || (q === best.q && index < best.index)) best = { rep, q, index }
  }
  return best?.rep
}

export function resolutionRouter (ctx: ResolutionContext): Router {
  const router = express.Router()
  const resolveRoute = `${IDENTIFIERS_PATH}/*did`

  router.get(resolveRoute, (req, res, next) => { handle(ctx, req, res, false, didOf(req)).catch(next) })
  router.post(resolveRoute, express.json({ limit: MAX_POST_BODY_BYTES, type: JSON_BODY_TYPES }), (req, res, next) => {
    handle(ctx, req, res, true, didOf(req)).catch(next)
  })
  router.get(METHODS_PATH, (_req, res) => { res.json([DID_METHOD]) })
  router.get(TEST_IDENTIFIERS_PATH, (_req, res) => {
    res.set('cache-control', 'no-store').json({ [DID_METHOD]: ctx.testIdentifiers() })
  })
  // A body the JSON parser refused, or a path express could not percent-decode: still a resolution result.
  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith(`${IDENTIFIERS_PATH}/`)) { next(err); return }
    const status = (err as { status?: unknown }).status
    const type = (err as { type?: unknown }).type
    if (typeof type === 'string' && type.startsWith('entity.')) {
      const httpStatus = typeof status === 'number' && status >= 400 && status < 500 ? status : 400
      sendError(res, REPRESENTATIONS[0]!, failure('invalidOptions', 'malformed_body', `the POST body must be a JSON object of resolution options of at most ${MAX_POST_BODY_BYTES} bytes`), httpStatus)
      return
    }
    if (status === 400) {
      sendError(res, REPRESENTATIONS[0]!, failure('invalidDid', 'malformed_encoding', 'the DID in the request path is not valid percent-encoding'))
      return
    }
    next(err)
  })
  return router
}

/**
 * The hot route, for the app's front (`publicFront`): a GET of `/1.0/identifiers/{did}` with no query, whose path
 * segment decodes to a DID without path, query or fragment. It is handled by the same `handle` as the router's
 * route; a 200 or 304 is written with the front's headers in one `writeHead`, anything else as the router would.
 * Any other request (another method or form, bad encoding, a query) is left to the router.
 */
export function hotResolution (ctx: ResolutionContext): HotRoute {
  const prefix = `${IDENTIFIERS_PATH}/`
  const pathDid = (req: Request): string | undefined => {
    const url = req.url
    if (req.method !== 'GET' || !url.startsWith(prefix) || url.includes('?')) return undefined
    let didUrl: string
    try {
      didUrl = decodeURIComponent(url.slice(prefix.length))
    } catch {
      return undefined
    }
    return didUrl === '' || /[/?#]/.test(didUrl) ? undefined : didUrl
  }
  return {
    match: pathDid,
    answer: async (req, res, head, did) => { await handle(ctx, req, res, false, did, head) }
  }
}

/** The DID URL the router matched: its `*did` segments, decoded and joined. */
function didOf (req: Request): string {
  const segments = (req.params as { did?: string[] | string }).did
  return Array.isArray(segments) ? segments.join('/') : String(segments ?? '')
}

/**
 * `head`: headers (name/value pairs) the front has not set yet and that go with whatever answer this writes; the
 * answer is written at once with them when it is a 200 or a 304.
 */
async function handle (ctx: ResolutionContext, req: Request, res: Response, post: boolean, pathDid: string, head?: string[]): Promise<void> {
  const rep = negotiate(req.get('accept'))
  if (rep === undefined) {
    setHead(res, head)
    sendError(res, REPRESENTATIONS[0]!, failure('representationNotSupported', 'representation_not_supported',
      `none of the requested media types is served; acceptable: ${REPRESENTATIONS.map(r => r.mediaType).join(', ')}`))
    return
  }
  const request = readRequest(req, post, pathDid)
  if ('didResolutionMetadata' in request) { setHead(res, head); sendError(res, rep, request); return }
  let result: DidResolutionResult
  try {
    result = await ctx.resolve(request.did, request.options)
  } catch {
    result = failure('internalError', 'internal_error', 'the resolver failed unexpectedly')
  }
  if (result.didResolutionMetadata.error !== undefined) { setHead(res, head); sendError(res, rep, result); return }
  sendResult(req, res, rep, result, { post, noCache: request.options.noCache === true }, head)
}

function setHead (res: Response, head: string[] | undefined): void {
  if (head === undefined) return
  for (let i = 0; i < head.length; i += 2) res.setHeader(head[i]!, head[i + 1]!)
}

/** The DID and options of a request, or the error result that refuses it. */
function readRequest (req: Request, post: boolean, pathDid: string): { did: string, options: ResolveOptions } | DidResolutionResult {
  let didUrl = pathDid
  const queryAt = req.originalUrl.indexOf('?')
  const rawQuery = queryAt === -1 ? undefined : req.originalUrl.slice(queryAt + 1)
  // POST carries its options in the body, so a query on its URL belongs to the DID URL (the binding's example 29).
  if (post && rawQuery !== undefined) didUrl += `?${rawQuery}`

  let parsed
  try {
    parsed = parseDidUrl(didUrl)
  } catch (err) {
    if (err instanceof IpidError) return failure(err.code, err.reason, err.message)
    throw err
  }
  if (parsed.path !== '' || parsed.fragment !== undefined) {
    return failure('featureNotSupported', 'dereferencing_not_supported', 'this endpoint resolves DIDs; DID URL dereferencing (a path or a fragment) is not offered')
  }
  const fromUrl = parameters(parsed.query ?? '')
  if (fromUrl === undefined) return failure('invalidDidUrl', 'duplicate_parameter', 'the DID URL repeats a parameter')
  for (const name of fromUrl.keys()) {
    if (!(VERSION_PARAMETERS as readonly string[]).includes(name)) {
      return failure('featureNotSupported', 'unsupported_did_parameter', `the DID parameter "${name}" asks for dereferencing, which this endpoint does not offer; only versionId and versionTime are resolved`)
    }
  }

  let given: Map<string, unknown>
  if (post) {
    const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0
    if (hasBody && req.is(JSON_BODY_TYPES) === false) {
      return failure('invalidOptions', 'malformed_body', 'the POST body must be JSON (application/json)')
    }
    const body: unknown = req.body ?? {}
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return failure('invalidOptions', 'malformed_body', 'the POST body must be a JSON object of resolution options')
    }
    given = new Map(Object.entries(body))
  } else {
    const fromQuery = parameters(rawQuery ?? '')
    if (fromQuery === undefined) return failure('invalidOptions', 'duplicate_option', 'a resolution option is given twice')
    given = fromQuery
  }

  const options: ResolveOptions = {}
  for (const [name, value] of given) {
    switch (name) {
      case 'versionId':
      case 'versionTime':
        if (typeof value !== 'string' || value === '') return failure('invalidOptions', 'malformed_option', `${name} must be a non-empty string`)
        if (name === 'versionId') options.versionId = value
        else options.versionTime = value
        break
      case 'noCache':
      case 'expandRelativeUrls': {
        const flag = value === true || value === 'true' ? true : value === false || value === 'false' ? false : undefined
        if (flag === undefined) return failure('invalidOptions', 'malformed_option', `${name} must be "true" or "false"`)
        if (name === 'noCache' && flag) options.noCache = true
        break
      }
      default:
        // §4.4 step 3: an option the resolver does not support is FEATURE_NOT_SUPPORTED.
        return failure('featureNotSupported', 'unsupported_option', `the resolution option "${name}" is not supported; supported: ${RESOLUTION_OPTIONS.join(', ')}`)
    }
  }
  for (const name of VERSION_PARAMETERS) {
    const inUrl = fromUrl.get(name)
    if (inUrl === undefined) continue
    if (options[name] !== undefined && options[name] !== inUrl) {
      return failure('invalidOptions', 'malformed_option', `${name} is given both in the DID URL and as an option, with different values`)
    }
    options[name] = inUrl
  }
  const bareEnd = didUrl.search(/[/?#]/)
  return { did: bareEnd === -1 ? didUrl : didUrl.slice(0, bareEnd), options }
}

/** Query parameters by name; undefined when one is repeated (ambiguous input, DID Resolution §3.2.2). */
function parameters (query: string): Map<string, string> | undefined {
  const map = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(query)) {
    if (map.has(name)) return undefined
    map.set(name, value)
  }
  return map
}

/** An answer rendered once per result object and representation. */
interface Rendered {
  /** The body as a string: Node writes headers and a string body in one write. */
  body: string
  length: number
  etag: string | undefined
  /** The representation's fixed headers for a 200, as name/value pairs for `writeHead`. */
  head: string[]
}

/**
 * Answers already rendered per result object and representation. The resolver hands out the same result object
 * for warm answers until the DID's state changes, so a hot DID is serialised and hashed once.
 */
const rendered = new WeakMap<DidResolutionResult, Map<string, Rendered>>()

function render (served: Representation, result: DidResolutionResult): Rendered {
  let forResult = rendered.get(result)
  if (forResult === undefined) {
    forResult = new Map()
    rendered.set(result, forResult)
  }
  let done = forResult.get(served.key)
  if (done === undefined) {
    const body = JSON.stringify(served.full ? wholeResult(served, result) : result.didDocument)
    const etag = etagOf(served, result)
    const length = Buffer.byteLength(body)
    done = { body, length, etag, head: ['Vary', 'Accept', ...(etag === undefined ? [] : ['ETag', etag]), 'Content-Type', served.mediaType, 'Content-Length', String(length)] }
    forResult.set(served.key, done)
  }
  return done
}

function sendResult (req: Request, res: Response, rep: Representation, result: DidResolutionResult, how: { post: boolean, noCache: boolean }, head?: string[]): void {
  const status = statusOf(result)
  // A deactivated DID may come without a document (DID Resolution §4.4): then only the whole result says so.
  const served = !rep.full && result.didDocument === null ? REPRESENTATIONS[0]! : rep
  const answer = render(served, result)
  const { etag } = answer
  const cacheControl = cacheControlOf(result, how)
  // RFC 9110 §13.2.1: preconditions only apply where the answer would be 2xx, so a 410 is never a 304.
  const notModified = !how.post && status === 200 && etag !== undefined && noneMatch(req.get('if-none-match'), etag)
  if (head !== undefined && (status === 200 || notModified)) {
    // The hot path: every header in one go, and the body in the same write.
    if (notModified) {
      res.writeHead(304, [...head, 'Vary', 'Accept', 'ETag', etag, 'Cache-Control', cacheControl])
      res.end()
    } else {
      res.writeHead(200, [...head, ...answer.head, 'Cache-Control', cacheControl])
      res.end(answer.body)
    }
    return
  }
  setHead(res, head)
  res.vary('Accept')
  if (etag !== undefined) res.setHeader('ETag', etag)
  res.setHeader('Cache-Control', cacheControl)
  if (notModified) {
    res.status(304).end()
    return
  }
  sendBody(res, status, served.mediaType, answer.body, answer.length)
}

function sendError (res: Response, rep: Representation, result: DidResolutionResult, status = statusOf(result)): void {
  // Errors are always the whole result; the legacy type when that is what the client asked for.
  const served = rep.full ? rep : REPRESENTATIONS[0]!
  res.vary('Accept')
  res.set('cache-control', 'no-store')
  send(res, status, served.mediaType, wholeResult(served, result))
}

function send (res: Response, status: number, mediaType: string, body: unknown): void {
  const text = JSON.stringify(body)
  sendBody(res, status, mediaType, text, Buffer.byteLength(text))
}

function sendBody (res: Response, status: number, mediaType: string, body: string, length: number): void {
  // Node's own setHeader and end, so that express adds no charset: the Content-Type is exactly the negotiated type.
  res.status(status)
  res.setHeader('content-type', mediaType)
  res.setHeader('content-length', length)
  res.end(body)
}

function wholeResult (rep: Representation, result: DidResolutionResult): DidResolutionResult {
  const wire = toWireResult(result)
  const { '@context': _context, ...rest } = wire
  return rep.mediaType === LEGACY_DID_RESOLUTION_MEDIA_TYPE ? { '@context': DID_RESOLUTION_CONTEXT, ...rest } : rest
}

/**
 * Strong for the document alone (same version, same bytes), weak for the whole result (its `retrieved` and
 * `source` change between identical answers). The hash covers what a version id alone does not pin: a
 * legacy document normalised at another time, a `nextVersionId` that appeared, new fork evidence.
 */
function etagOf (rep: Representation, result: DidResolutionResult): string | undefined {
  const versionId = result.didDocumentMetadata.versionId
  if (typeof versionId !== 'string' || !/^[A-Za-z0-9]+$/.test(versionId)) return undefined
  const hashed = rep.full
    ? [result.didDocument, result.didDocumentMetadata, result.didResolutionMetadata.forkEvidence ?? null]
    : result.didDocument
  const digest = createHash('sha256').update(JSON.stringify(hashed)).digest('base64url').slice(0, ETAG_HASH_CHARS)
  const tag = `"${versionId}.${rep.key}.${digest}"`
  return rep.full ? `W/${tag}` : tag
}
/** 96 bits of the hash: enough to tell two answers for one version apart. */
const ETAG_HASH_CHARS = 16

/** RFC 9110 §13.1.2: `*` matches any current representation; otherwise weak comparison. */
function noneMatch (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '')
  return header.split(',').some(tag => opaque(tag) === opaque(etag))
}

function cacheControlOf (result: DidResolutionResult, how: { post: boolean, noCache: boolean }): string {
  const metadata = result.didResolutionMetadata
  // Nobody may reuse an answer the network could not confirm, nor a POST answer (RFC 9111 §4: not a cache key).
  if (how.post || metadata.stale === true || metadata.expired === true) return 'no-store'
  if (how.noCache) return 'public, max-age=0'
  return `public, max-age=${maxAgeOf(metadata, Date.now())}`
}

/**
 * Seconds the answer stays fresh: what is left of the record's TTL since it was retrieved (when the result
 * carries `recordTtl`, in seconds), else DEFAULT_MAX_AGE_S — never past the record's EOL.
 */
const parsedTimes = new WeakMap<Record<string, unknown>, { retrievedMs: number, expiresMs: number }>()

function maxAgeOf (metadata: Record<string, unknown>, nowMs: number): number {
  let times = parsedTimes.get(metadata)
  if (times === undefined) {
    times = {
      retrievedMs: typeof metadata.retrieved === 'string' ? Date.parse(metadata.retrieved) : Number.NaN,
      expiresMs: typeof metadata.recordExpires === 'string' ? Date.parse(metadata.recordExpires) : Number.NaN
    }
    parsedTimes.set(metadata, times)
  }
  const { retrievedMs, expiresMs } = times
  let seconds = typeof metadata.recordTtl === 'number' && Number.isFinite(metadata.recordTtl) && !Number.isNaN(retrievedMs)
    ? metadata.recordTtl - (nowMs - retrievedMs) / 1000
    : DEFAULT_MAX_AGE_S
  if (!Number.isNaN(expiresMs)) seconds = Math.min(seconds, (expiresMs - nowMs) / 1000)
  return Math.max(0, Math.floor(seconds))
}

/** An error result in the in-process shape, for failures this layer finds itself. */
function failure (code: string, reason: string, message: string): DidResolutionResult {
  return { didDocument: null, didResolutionMetadata: { error: code, reason, message }, didDocumentMetadata: {} }
}

interface MediaRange { type: string, subtype: string, params: Map<string, string>, q: number, index: number }

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
const QVALUE_RE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/
/** Parameters that say nothing about which representation is wanted: JSON is always UTF-8. */
const IGNORED_PARAMS = new Set(['charset'])

/** RFC 9110 §12.5.1 `Accept`; ranges that do not parse are skipped. */
function parseAccept (header: string): MediaRange[] {
  const ranges: MediaRange[] = []
  splitOutsideQuotes(header, ',').forEach((part, index) => {
    const [head = '', ...rawParams] = splitOutsideQuotes(part, ';')
    const [type = '', subtype = '', ...extra] = head.trim().toLowerCase().split('/')
    if (extra.length > 0 || !TOKEN_RE.test(type) || !TOKEN_RE.test(subtype) || (type === '*' && subtype !== '*')) return
    const params = new Map<string, string>()
    let q = 1
    for (const raw of rawParams) {
      const eq = raw.indexOf('=')
      if (eq === -1) return
      const name = raw.slice(0, eq).trim().toLowerCase()
      let value = raw.slice(eq + 1).trim()
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1')
      if (name === 'q') {
        if (!QVALUE_RE.test(value)) return
        q = Number(value)
        break // what follows the weight are accept-extensions, not media type parameters
      }
      if (!IGNORED_PARAMS.has(name)) params.set(name, value)
    }
    ranges.push({ type, subtype, params, q, index })
  })
  return ranges
}

function splitOutsideQuotes (text: string, separator: string): string[] {
  const parts: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (quoted && ch === '\\' && i + 1 < text.length) { current += ch + text[++i]!; continue }
    if (ch === '"') quoted = !quoted
    if (ch === separator && !quoted) { parts.push(current); current = '' } else current += ch
  }
  parts.push(current)
  return parts.filter(p => p.trim() !== '')
}

/** -1 when the range does not cover the representation, else how specific it is (RFC 9110 §12.5.1). */
function matchRange (range: MediaRange, rep: Representation): number {
  if (range.type !== '*' && range.type !== rep.type) return -1
  if (range.subtype !== '*' && range.subtype !== rep.subtype) return -1
  for (const [name, value] of range.params) if (rep.params[name] !== value) return -1
  return (range.type === '*' ? 0 : range.subtype === '*' ? 1 : 2) * 100 + range.params.size
}
