/**
 * `POST /1.0/verify`: verifies a JWT issued by a did:ipid with did-jwt over ipidd's own resolver, so that apps
 * without a DID library can check signed posts and logins. The audience and proof purpose are parameters,
 * as in did-jwt; the answer says which key signed and which version of the issuer's document held it.
 */
import { Resolver as DidResolver } from 'did-resolver'
import express from 'express'
import { z } from 'zod'
import { JwtVerificationError, verifyJwt } from '../client/verify.ts'
import { sendProblem } from './problem.ts'
import type { Router } from 'express'
import type { ResolverRegistry } from 'did-resolver'

/** A JWT for a login or a post is a few KiB; the body carries one and two short parameters. */
export const MAX_VERIFY_BODY_BYTES = 64 * 1024
export const MAX_JWT_LENGTH = 32 * 1024
/** Where the router answers; browsers on any origin may call it (CORS, src/http/protect.ts). */
export const VERIFY_PATH = '/1.0/verify'

const bodySchema = z.strictObject({
  jwt: z.string().min(1).max(MAX_JWT_LENGTH),
  audience: z.string().min(1).max(2048).optional(),
  proofPurpose: z.enum(['authentication', 'assertionMethod', 'capabilityInvocation', 'capabilityDelegation']).optional()
})

export interface VerifyContext {
  /** `getResolver(resolver)` of src/resolver/driver.ts. */
  registry: ResolverRegistry
}

export function verifyRouter (ctx: VerifyContext): Router {
  const router = express.Router()
  const didResolver = new DidResolver(ctx.registry)
  router.post(VERIFY_PATH, express.json({ limit: MAX_VERIFY_BODY_BYTES }), (req, res, next) => {
    const parsed = bodySchema.safeParse(req.body)
    if (!parsed.success) {
      sendProblem(res, 400, `the body must be {"jwt": string, "audience"?: string, "proofPurpose"?: ${bodySchema.shape.proofPurpose.unwrap().options.join('|')}}`)
      return
    }
    const { jwt, audience, proofPurpose } = parsed.data
    // The same checks an app makes with ipidd/resolver: a deactivated issuer says so, a `kid` must be the key that verified.
    verifyJwt(jwt, { resolver: didResolver, ...(audience === undefined ? {} : { audience }), ...(proofPurpose === undefined ? {} : { proofPurpose }) })
      .then(verified => {
        res.set('cache-control', 'no-store').json({
          verified: true,
          issuer: verified.issuer,
          signer: verified.signer,
          versionId: verified.versionId,
          payload: verified.payload
        })
      }, (err: unknown) => {
        if (!(err instanceof JwtVerificationError) || (err.reason === 'resolver_error' && err.resolutionError === 'internalError')) { next(err); return }
        // Not a 2xx, so that a client that only checks the status cannot mistake a forgery for a success.
        res.set('cache-control', 'no-store')
        sendProblem(res, 422, err.message.slice(0, 500), { reason: err.reason, verified: false })
      })
  })
  return router
}
