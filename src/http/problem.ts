/**
 * RFC 9457 problem documents with `type: about:blank` (so the title is the status's reason phrase): the one
 * shape every ipidd HTTP error takes outside DID resolution results.
 */
import { STATUS_CODES } from 'node:http'
import type { Response } from 'express'

export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

export interface Problem {
  type: string
  title: string
  status: number
  detail?: string
  [extension: string]: unknown
}

export function problemOf (status: number, detail?: string, extensions: Record<string, unknown> = {}): Problem {
  return {
    ...extensions,
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    ...(detail === undefined ? {} : { detail })
  }
}

export function sendProblem (res: Response, status: number, detail?: string, extensions?: Record<string, unknown>): void {
  res.status(status).type(PROBLEM_MEDIA_TYPE).send(JSON.stringify(problemOf(status, detail, extensions)))
}
