/**
 * `GET /1.0/history/{did}`: the verified version chain, newest first, with who signed each version and what
 * it changed in keys and services — the audit log a user reads after a key compromise. Paginated by version
 * number (`before`), so a long history is read in pages of bounded size.
 */
import express from 'express'
import { problemOf } from '../resolver/wire.ts'
import { sendProblem } from './problem.ts'
import type { HistoryEntry } from '../did/changes.ts'
import type { DidResolutionResult } from '../resolver/resolver.ts'
import type { Router } from 'express'

export const DEFAULT_HISTORY_PAGE = 50
export const MAX_HISTORY_PAGE = 200

export interface HistoryContext {
  history: (did: string, options?: { noCache?: boolean }) => Promise<{ result: DidResolutionResult, entries: HistoryEntry[] }>
  /** HTTP status of a failed resolution (the resolution API's table). */
  statusOf: (result: DidResolutionResult) => number
}

export function historyRouter (ctx: HistoryContext): Router {
  const router = express.Router()
  router.get('/1.0/history/:did', (req, res, next) => {
    const query = req.query as Record<string, unknown>
    const limit = pageNumber(query.limit, DEFAULT_HISTORY_PAGE)
    const before = pageNumber(query.before, Number.MAX_SAFE_INTEGER)
    if (limit === undefined || limit < 1 || limit > MAX_HISTORY_PAGE || before === undefined) {
      sendProblem(res, 400, `limit must be 1 to ${MAX_HISTORY_PAGE} and before a version number`)
      return
    }
    ctx.history(String(req.params.did), { noCache: query.noCache === 'true' }).then(({ result, entries }) => {
      const error = result.didResolutionMetadata.error
      if (error !== undefined) {
        // The resolution API's problem object (`type` https://www.w3.org/ns/did#NOT_FOUND, …) with its status.
        const status = ctx.statusOf(result)
        const { type, title, detail, reason } = problemOf(error, result.didResolutionMetadata.message, result.didResolutionMetadata.reason)
        res.status(status).type('application/problem+json').send(JSON.stringify({ type, title, status, detail, ...(reason === undefined ? {} : { reason }) }))
        return
      }
      const page = entries.filter(e => e.version < before).slice(0, limit)
      const last = page.at(-1)
      res.set('cache-control', 'no-store').json({
        id: result.didDocumentMetadata.canonicalId,
        versions: page,
        ...(last !== undefined && last.version > 1 && page.length === limit ? { nextBefore: last.version } : {}),
        ...(entries.length === 0 ? { legacy: true } : {}),
        stale: result.didResolutionMetadata.stale === true
      })
    }, next)
  })
  return router
}

function pageNumber (value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : undefined
}
