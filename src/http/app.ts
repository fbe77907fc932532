/**
 * The HTTP application. For now: liveness. The resolver, routing and admin APIs mount here as they land.
 */
import express from 'express'
import { VERSION } from '../version.ts'
import type { Express } from 'express'

export interface AppContext {
  startedAtMs: number
  now: () => number
}

export function createApp (ctx: AppContext): Express {
  const app = express()
  app.disable('x-powered-by')
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', service: 'ipidd', version: VERSION, uptimeSeconds: Math.floor((ctx.now() - ctx.startedAtMs) / 1000) })
  })
  app.use((_req, res) => {
    res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404 })
  })
  return app
}
