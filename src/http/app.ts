/**
 * The HTTP application: liveness, DID resolution, metrics and the delegated routing IPNS API. Routes read their dependencies from the context object
 * built once by the daemon, so tests build an app with another context and nothing is global.
 */
import express from 'express'
import { METRICS_CONTENT_TYPE } from '../metrics.ts'
import { VERSION } from '../version.ts'
import { ADMIN_API_PREFIX, adminRouter } from './admin.ts'
import { routingRouter } from './routing.ts'
import type { AdminContext } from './admin.ts'
import type { RoutingContext } from './routing.ts'
import type { Metrics } from '../metrics.ts'
import type { DidResolutionResult, ResolveOptions } from '../resolver/resolver.ts'
import type { Express } from 'express'

export const DID_RESOLUTION_MEDIA_TYPE = 'application/did-resolution'

export interface AppContext {
  startedAtMs: number
  now: () => number
  resolver?: { resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult> }
  metrics?: Metrics
  /** The Delegated Routing V1 IPNS API over the cache. */
  routing?: RoutingContext
  /** The admin API (loopback and bearer token) the CLI uses. */
  admin?: AdminContext
}

/** HTTP status of a resolution error code (W3C DID Resolution, HTTPS binding). */
export function statusOf (result: DidResolutionResult): number {
  switch (result.didResolutionMetadata.error) {
    case undefined: return result.didDocumentMetadata.deactivated === true ? 410 : 200
    case 'invalidDid':
    case 'invalidDidUrl':
    case 'invalidOptions': return 400
    case 'notFound': return 404
    case 'representationNotSupported': return 406
    case 'methodNotSupported': return 501
    default: return 500
  }
}

export function createApp (ctx: AppContext): Express {
  const app = express()
  app.disable('x-powered-by')
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', service: 'ipidd', version: VERSION, uptimeSeconds: Math.floor((ctx.now() - ctx.startedAtMs) / 1000) })
  })
  const { metrics, routing } = ctx
  if (metrics !== undefined) {
    app.get('/metrics', (_req, res, next) => {
      metrics.text().then(text => { res.type(METRICS_CONTENT_TYPE).send(text) }, next)
    })
  }
  if (routing !== undefined) app.use(routingRouter(routing))
  const { resolver } = ctx
  if (resolver !== undefined) {
    app.get('/1.0/identifiers/:did', (req, res, next) => {
      const query = req.query as Record<string, unknown>
      const text = (key: string): string | undefined => typeof query[key] === 'string' ? query[key] : undefined
      const options: ResolveOptions = {
        ...(text('versionId') === undefined ? {} : { versionId: text('versionId')! }),
        ...(text('versionTime') === undefined ? {} : { versionTime: text('versionTime')! }),
        ...(text('noCache') === 'true' ? { noCache: true } : {})
      }
      resolver.resolve(req.params.did, options).then(result => {
        res.status(statusOf(result)).type(DID_RESOLUTION_MEDIA_TYPE).send(JSON.stringify(result))
      }, next)
    })
  }
  if (ctx.admin !== undefined) app.use(ADMIN_API_PREFIX, adminRouter(ctx.admin))
  app.use((_req, res) => {
    res.status(404).type('application/problem+json').json({ type: 'about:blank', title: 'Not Found', status: 404 })
  })
  return app
}
