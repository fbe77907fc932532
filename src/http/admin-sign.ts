/**
 * `POST /admin/v1/identities/{name}/sign`: the owner signs with one of its document keys (src/sign/). Mounted
 * by the admin router after its loopback and token checks, so signing is an admin operation; refusals are
 * problem documents through the admin router's error handler (reasons in spec/did-ipid.md §Signing).
 *
 * Body (JSON, at most SIGN_BODY_LIMIT_BYTES):
 *   { type: 'jwt', aud?, nonce?, exp? | lifetimeSeconds?, claims?, purpose? (default authentication), key?, passphrase? }
 *     → 200 { type, jwt, did, kid, versionId, purpose, iat, exp }
 *   { type: 'jws', payload (base64url) | json (object or array), purpose? (default assertionMethod), key?, passphrase? }
 *     → 200 { type, jws (detached: header..signature), payload (base64url of the bytes signed), did, kid, versionId, purpose }
 * Every signature is logged (identity, key, type, purpose, audience; never the payload, the claims or the key)
 * and counted in `/metrics` (`ipidd_signatures_total`, refusals in `ipidd_sign_refused_total`).
 */
import express from 'express'
import { base64url } from 'multiformats/bases/base64'
import { z } from 'zod'
import { MAX_PASSPHRASE_LENGTH } from '../identity/keystore.ts'
import { MAX_JWS_PAYLOAD_BYTES, signDetachedJws } from '../sign/jws.ts'
import { MAX_AUDIENCE_CHARS, MAX_AUDIENCES, MAX_JWT_LIFETIME_S, MAX_NONCE_CHARS, signJwt } from '../sign/jwt.ts'
import { SIGNING_PURPOSES } from '../sign/signer.ts'
import { SignError } from '../sign/errors.ts'
import type { Identities } from '../identity/identities.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../metrics.ts'
import type { Router } from 'express'

/** The largest body: a payload of MAX_JWS_PAYLOAD_BYTES in base64url (4/3 of it) and the other members. */
export const SIGN_BODY_LIMIT_BYTES = Math.ceil(MAX_JWS_PAYLOAD_BYTES * 4 / 3) + 16 * 1024
/** Key fragments as the document names them (`auth-2`). */
const FRAGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/

export interface SignContext {
  identities: Identities
  clock: () => number
  logger?: Logger
  metrics?: Metrics
}

const common = {
  purpose: z.enum(SIGNING_PURPOSES).optional(),
  key: z.string().regex(FRAGMENT_RE, 'a key fragment such as auth-2').optional(),
  passphrase: z.string().min(1).max(MAX_PASSPHRASE_LENGTH).optional()
}
const audience = z.string().min(1).max(MAX_AUDIENCE_CHARS)
const signSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('jwt'),
    aud: z.union([audience, z.array(audience).min(1).max(MAX_AUDIENCES)]).optional(),
    nonce: z.string().min(1).max(MAX_NONCE_CHARS).optional(),
    exp: z.number().int().positive().optional(),
    lifetimeSeconds: z.number().int().positive().max(MAX_JWT_LIFETIME_S).optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
    ...common
  }),
  z.strictObject({
    type: z.literal('jws'),
    payload: z.string().regex(BASE64URL_RE, 'base64url without padding').optional(),
    json: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    ...common
  }).refine(body => (body.payload === undefined) !== (body.json === undefined), { message: 'give payload (base64url bytes) or json, one of them' })
])

/** The sign route; `parse` turns a body into the router's 400 (the admin router's own parseBody). */
export function signRouter (ctx: SignContext, parse: <T>(schema: z.ZodType<T>, body: unknown) => T): Router {
  const router = express.Router()
  router.post('/identities/:name/sign', express.json({ limit: SIGN_BODY_LIMIT_BYTES }), async (req, res) => {
    const name = req.params.name
    let type = 'unknown'
    try {
      const body = parse(signSchema, req.body)
      type = body.type
      const purpose = body.purpose ?? (body.type === 'jwt' ? 'authentication' : 'assertionMethod')
      const key = await ctx.identities.documentSigner(name, {
        purpose,
        ...(body.key === undefined ? {} : { fragment: body.key }),
        ...(body.passphrase === undefined ? {} : { passphrase: body.passphrase })
      })
      const who = { identity: name, did: key.did, kid: key.keyId, versionId: key.versionId, type: body.type, purpose, remoteAddress: req.socket.remoteAddress }
      if (body.type === 'jwt') {
        const signed = await signJwt(key, {
          ...(body.aud === undefined ? {} : { aud: body.aud }),
          ...(body.nonce === undefined ? {} : { nonce: body.nonce }),
          ...(body.exp === undefined ? {} : { exp: body.exp }),
          ...(body.lifetimeSeconds === undefined ? {} : { lifetimeS: body.lifetimeSeconds }),
          ...(body.claims === undefined ? {} : { claims: body.claims })
        }, ctx.clock())
        ctx.logger?.info({ ...who, aud: body.aud, exp: signed.exp }, 'signed a JWT')
        ctx.metrics?.signatures.inc({ type: 'jwt', purpose })
        res.json({ type: 'jwt', jwt: signed.jwt, did: key.did, kid: key.keyId, versionId: key.versionId, purpose, iat: signed.iat, exp: signed.exp })
        return
      }
      const signed = await signDetachedJws(key, body.payload !== undefined ? { bytes: decodePayload(body.payload) } : { json: body.json })
      ctx.logger?.info(who, 'signed a detached JWS')
      ctx.metrics?.signatures.inc({ type: 'jws', purpose })
      res.json({ type: 'jws', jws: signed.jws, payload: signed.payload, did: key.did, kid: key.keyId, versionId: key.versionId, purpose })
    } catch (err) {
      const reason = typeof (err as { reason?: unknown }).reason === 'string' ? (err as { reason: string }).reason : 'internal_error'
      ctx.metrics?.signRefused.inc({ reason })
      if (reason !== 'internal_error') ctx.logger?.warn({ identity: name, type, reason }, 'signing refused')
      throw err
    }
  })
  return router
}

function decodePayload (text: string): Uint8Array {
  try {
    return base64url.baseDecode(text)
  } catch {
    throw new SignError('invalid_request', 'payload: not base64url')
  }
}
