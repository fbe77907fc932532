/**
 * The HTTP application: liveness, DID resolution, metrics and the delegated routing IPNS API. Routes read their dependencies from the context object
 * built once by the daemon, so tests build an app with another context and nothing is global.
 */
import express from 'express'
import { METRICS_CONTENT_TYPE } from '../metrics.ts'
import { VERSION } from '../version.ts'
import { ADMIN_API_PREFIX, adminRouter } from './admin.ts'
import { historyRouter } from './history.ts'
import { hotResolution, resolutionRouter } from './resolution.ts'
import { routingRouter } from './routing.ts'
import { VERIFY_PATH, verifyRouter } from './verify.ts'
import { DEFAULT_HTTP_LIMITS, notFound, problemErrors, publicFront, readiness } from './protect.ts'
import { isLoopbackAddress } from './loopback.ts'
import { sendProblem } from './problem.ts'
import type { HttpLimits, ReadinessCheck } from './protect.ts'
import type { Logger } from '../log.ts'
import { getResolver } from '../resolver/driver.ts'
import { statusOf } from '../resolver/wire.ts'
import type { AdminContext } from './admin.ts'
import type { RoutingContext } from './routing.ts'
import type { Metrics } from '../metrics.ts'
import type { HistoryEntry } from '../did/changes.ts'
import type { DidResolutionResult, ResolveOptions } from '../resolver/resolver.ts'

export { DID_RESOLUTION_MEDIA_TYPE } from './resolution.ts'
export { statusOf } from '../resolver/wire.ts'
import type { Express, RequestHandler, Router } from 'express'


export interface AppContext {
  startedAtMs: number
  now: () => number
  resolver?: {
    resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult>
    history?: (did: string, options?: { noCache?: boolean }) => Promise<{ result: DidResolutionResult, entries: HistoryEntry[] }>
  }
  /** DIDs listed at /1.0/testIdentifiers (configured ones; none by default). */
  testIdentifiers?: () => string[]
  metrics?: Metrics
  /** The Delegated Routing V1 IPNS API over the cache. */
  routing?: RoutingContext
  /** The admin API (loopback and bearer token) the CLI uses. */
  admin?: AdminContext
  logger?: Logger
  /** Writes the one line per request (no redaction pass: its lines hold no secrets by construction). */
  accessLogger?: Logger
  limits?: HttpLimits
  /** What `/readyz` checks: the IPFS backend and the cache store. */
  readinessChecks?: ReadinessCheck[]
  /** Who may read `/metrics` and `/readyz` here: loopback clients only (the default), or anyone. */
  probesAccess?: 'loopback' | 'any'
}

/** What the probes listener (`http.probesPort`) serves: liveness, readiness and metrics, nothing else. */
export type ProbesContext = Pick<AppContext, 'startedAtMs' | 'now' | 'metrics' | 'readinessChecks' | 'logger'>

export function createApp (ctx: AppContext): Express {
  const limits = ctx.limits ?? DEFAULT_HTTP_LIMITS
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', limits.trustProxy)
  const { metrics, routing, resolver } = ctx
  const resolution = resolver === undefined
    ? undefined
    : { resolve: async (did: string, options?: ResolveOptions) => resolver.resolve(did, options), testIdentifiers: ctx.testIdentifiers ?? (() => []) }
  // Order matters: headers and request ids for every answer, CORS before any route, the URL checked before
  // routing, health outside the rate limit (a flood must not get a healthy daemon restarted), errors last.
  // The front does all of that as one layer, then answers warm resolution itself (the hot path).
  app.use(publicFront({
    limits,
    clock: ctx.now,
    ...(ctx.logger === undefined ? {} : { logger: ctx.logger, accessLogger: ctx.accessLogger ?? ctx.logger }),
    cors: { ownPolicyPrefixes: ['/routing/v1'], crossOriginPosts: [VERIFY_PATH] },
    ownDecodingPrefixes: ['/1.0/identifiers'],
    unlimitedPaths: ['/healthz', '/readyz'],
    ...(resolution === undefined ? {} : { hot: hotResolution(resolution) })
  }))
  app.use(probeRoutes(ctx, (ctx.probesAccess ?? 'loopback') === 'loopback' ? loopbackOnly(ctx.logger) : undefined))
  if (resolver !== undefined && resolution !== undefined) {
    app.use(resolutionRouter(resolution))
    const { history } = resolver
    if (history !== undefined) app.use(historyRouter({ history: async (did, options) => history.call(resolver, did, options), statusOf }))
    app.use(verifyRouter({ registry: getResolver(resolver) }))
  }
  if (routing !== undefined) app.use(routingRouter(routing))
  if (ctx.admin !== undefined) app.use(ADMIN_API_PREFIX, adminRouter(ctx.admin))
  app.use(notFound())
  app.use(problemErrors(ctx.logger))
  return app
}

/**
 * The probes listener's app: `/healthz`, `/readyz` and `/metrics` to whoever reaches its address (a kubelet
 * probes from the node's address, not from loopback), and nothing else: no resolution, no admin API.
 */
export function createProbesApp (ctx: ProbesContext): Express {
  const app = express()
  app.disable('x-powered-by')
  app.use(probeRoutes(ctx))
  app.use(notFound())
  app.use(problemErrors(ctx.logger))
  return app
}

/** `/healthz` for anyone; `/readyz` and `/metrics` behind `guard` when one is given. */
function probeRoutes (ctx: ProbesContext, guard?: RequestHandler): Router {
  const router = express.Router()
  const guarded: RequestHandler[] = guard === undefined ? [] : [guard]
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', service: 'ipidd', version: VERSION, uptimeSeconds: Math.floor((ctx.now() - ctx.startedAtMs) / 1000) })
  })
  router.get('/readyz', ...guarded, readiness(ctx.readinessChecks ?? []))
  const { metrics } = ctx
  if (metrics !== undefined) {
    router.get('/metrics', ...guarded, (_req, res, next) => {
      metrics.text().then(text => { res.type(METRICS_CONTENT_TYPE).send(text) }, next)
    })
  }
  return router
}

/**
 * Loopback clients only: the client as the trusted proxies name it (`req.ip`), so that a reverse proxy on the same
 * machine does not make every client look local once `http.trustProxy` names it.
 */
function loopbackOnly (logger: Logger | undefined): RequestHandler {
  return (req, res, next) => {
    const client = req.ip ?? req.socket.remoteAddress
    if (isLoopbackAddress(client)) {
      next()
      return
    }
    logger?.debug({ client, path: req.path }, 'probe refused: not from a loopback address')
    res.set('cache-control', 'no-store')
    sendProblem(res, 403, `${req.path} answers loopback clients only here: use the probes listener (http.probesPort), or set http.probesAccess to any`, { reason: 'not_loopback' })
  }
}
