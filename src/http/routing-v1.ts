/**
 * The Delegated Routing V1 HTTP API for IPNS (ipfs/specs `routing/http-routing-v1`): `GET` and `PUT`
 * `/routing/v1/ipns/{name}`. Any IPFS node that uses this daemon as a delegated router resolves the identities
 * it keeps, even while their owners are offline. Records are validated on the way in and served only while
 * valid; a PUT never rolls a name back.
 */
import express from 'express'
import { InvalidRecordError, IpidError } from '../errors.ts'
import { parseDid } from '../did/identifier.ts'
import { MAX_RECORD_BYTES } from '../ipns/record.ts'
import type { IpidName } from '../did/identifier.ts'
import type { Outcome } from '../resolver/resolver.ts'
import type { Request, Response, Router } from 'express'

export const IPNS_RECORD_MEDIA_TYPE = 'application/vnd.ipfs.ipns-record'
/** Deadline of one routing request, lookups and block fetches included. */
export const ROUTING_REQUEST_DEADLINE_MS = 15_000
/** What a client is told to wait before retrying a PUT whose content could not be fetched yet. */
export const RETRY_AFTER_S = 5
/** Longest a client may cache an answer (the record's TTL is used when shorter). */
export const ROUTING_MAX_AGE_S = 300

export interface RoutingContext {
  /** The best valid record held or found for the name (marshalled), or undefined. */
  getRecord: (name: IpidName, signal: AbortSignal) => Promise<Uint8Array | undefined>
  /** Validates and offers a record; throws an IpidError when the record is invalid. */
  putRecord: (name: IpidName, record: Uint8Array, signal: AbortSignal) => Promise<Outcome>
}

export function routingRouter (ctx: RoutingContext): Router {
  const router = express.Router()

  router.get('/routing/v1/ipns/:name', (req, res, next) => {
    const name = nameOf(req, res)
    if (name === undefined) return
    if (!acceptsRecord(req.get('accept'))) {
      problem(res, 406, 'Not Acceptable', `this endpoint answers ${IPNS_RECORD_MEDIA_TYPE} only`)
      return
    }
    ctx.getRecord(name, requestSignal(res)).then(record => {
      if (record === undefined) {
        res.status(404).set('cache-control', 'no-store')
        problem(res, 404, 'Not Found', `no valid record is known for ${name.id}`)
        return
      }
      res.status(200)
        .set('cache-control', `public, max-age=${ROUTING_MAX_AGE_S}`)
        .set('vary', 'Accept')
        .type(IPNS_RECORD_MEDIA_TYPE)
        .send(Buffer.from(record))
    }, next)
  })

  router.put('/routing/v1/ipns/:name',
    express.raw({ type: () => true, limit: MAX_RECORD_BYTES }),
    (req, res, next) => {
      const name = nameOf(req, res)
      if (name === undefined) return
      const body = req.body as unknown
      if (!Buffer.isBuffer(body) || body.byteLength === 0) {
        problem(res, 400, 'Bad Request', `the body must be an IPNS record (${IPNS_RECORD_MEDIA_TYPE})`)
        return
      }
      ctx.putRecord(name, new Uint8Array(body), requestSignal(res)).then(outcome => {
        if (outcome === 'refused') {
          problem(res, 409, 'Conflict', 'the record is older than the one held, or forks the verified history: accepting it would roll the identity back')
          return
        }
        res.status(200).end()
      }, (err: unknown) => {
        if (err instanceof InvalidRecordError) {
          problem(res, 400, 'Bad Request', `invalid record: ${err.message}`, err.reason)
        } else if (err instanceof IpidError && err.code === 'invalidDidDocument') {
          problem(res, 400, 'Bad Request', `the record points at content that is not a valid did:ipid version: ${err.message}`, err.reason)
        } else if (err instanceof IpidError && err.code === 'notFound') {
          // The record may be fine, but what it points at could not be fetched to verify it: try again later.
          res.set('retry-after', String(RETRY_AFTER_S))
          problem(res, 503, 'Service Unavailable', `the record could not be verified yet: ${err.message}`, err.reason)
        } else if (err instanceof IpidError && err.reason === 'cache_contention') {
          res.set('retry-after', '1')
          problem(res, 503, 'Service Unavailable', err.message, err.reason)
        } else if (isAbort(err)) {
          res.set('retry-after', String(RETRY_AFTER_S))
          problem(res, 503, 'Service Unavailable', 'the record could not be verified before the deadline')
        } else {
          next(err)
        }
      })
    })

  // Body too large, or unreadable: answered here so that the client learns why.
  router.use('/routing/v1/ipns', (err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    const status = (err as { status?: number }).status
    if (status === 413) {
      problem(res, 413, 'Content Too Large', `an IPNS record is at most ${MAX_RECORD_BYTES} bytes`)
      return
    }
    if (status !== undefined && status >= 400 && status < 500) {
      problem(res, status, 'Bad Request', 'the request body could not be read')
      return
    }
    next(err)
  })
  return router
}

function isAbort (err: unknown): boolean {
  const name = (err as Error | undefined)?.name
  return name === 'AbortError' || name === 'TimeoutError'
}

function nameOf (req: Request, res: Response): IpidName | undefined {
  const text = String(req.params.name)
  try {
    return parseDid(`did:ipid:${text}`)
  } catch (err) {
    const detail = err instanceof IpidError ? err.message : 'malformed name'
    problem(res, 400, 'Bad Request', `"${text.slice(0, 100)}" is not an IPNS name of a libp2p key: ${detail}`)
    return undefined
  }
}

function acceptsRecord (accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  return accept.split(',').some(part => {
    const type = part.split(';')[0]?.trim().toLowerCase()
    return type === '*/*' || type === 'application/*' || type === IPNS_RECORD_MEDIA_TYPE
  })
}

/** Aborts when the deadline passes or the client goes away before its answer is written. */
function requestSignal (res: Response): AbortSignal {
  const closed = new AbortController()
  res.once('close', () => { if (!res.writableFinished) closed.abort() })
  return AbortSignal.any([closed.signal, AbortSignal.timeout(ROUTING_REQUEST_DEADLINE_MS)])
}

/** An RFC 9457 problem document. */
function problem (res: Response, status: number, title: string, detail: string, reason?: string): void {
  res.status(status).type('application/problem+json').send(JSON.stringify({ type: 'about:blank', title, status, detail, ...(reason === undefined ? {} : { reason }) }))
}
