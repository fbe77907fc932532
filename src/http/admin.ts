/**
 * The admin API the CLI uses, mounted by the app at `/admin/v1` (ADMIN_API_PREFIX): identities (create, list,
 * show, services, keys, deactivate), pins and the keeper's status.
 *
 * Every request, in this order:
 * 1. from a loopback address (127.0.0.0/8, ::1, ::ffff:127.x), unless `allowRemote` — else 403;
 * 2. `Authorization: Bearer <token>` (admin-token.ts), compared in constant time — else 401 with
 *    `WWW-Authenticate: Bearer`;
 * 3. only then is a body read: JSON, at most ADMIN_JSON_LIMIT_BYTES, checked against a strict schema (an
 *    unknown member is refused, so a misspelt option never goes unnoticed).
 * No CORS header is ever sent, so a web page cannot call this API even on the same machine, and every answer
 * is `Cache-Control: no-store`. Passphrases travel only in JSON bodies, never in the URL; no answer and no log
 * line carries a passphrase, a private key or a key file (answers name public keys only).
 *
 * Errors are RFC 9457 problem documents with ipidd's stable `reason` (and `code` for an IpidError):
 * 400 invalid input, 401 no or wrong token, 403 not loopback or wrong passphrase, 404 unknown identity / service
 * / key / pin, 409 conflicts with the identity's state, 413 body too large, 507 `disk_full` (the data directory's
 * disk is full; nothing was changed), 500 anything else (no detail).
 * A wrong passphrase is 403, not 401: the request is authenticated (the token is right) but the caller
 * cannot use these keys, and 401 stays reserved for the token, so a client can tell "run with the token" from
 * "wrong passphrase".
 *
 * Routes (paths relative to the mount point):
 *   GET    /identities                           → 200 { identities: IdentitySummary[], damaged?: DamagedIdentity[] }
 *   POST   /identities                           { name, passphrase, services?, prerotation? } → 201 IdentitySummary
 *   GET    /identities/{name}                    → 200 IdentityDetail
 *   POST   /identities/{name}/services           { passphrase, service: { fragment, type, serviceEndpoint } } → 201 ChangeResult
 *   DELETE /identities/{name}/services/{frag}    { passphrase } → 200 ChangeResult
 *   POST   /identities/{name}/keys               { passphrase, purposes? } → 201 ChangeResult (added: [fragment])
 *   DELETE /identities/{name}/keys/{frag}        { passphrase } → 200 ChangeResult
 *   POST   /identities/{name}/keys/rotate        { passphrase, purpose? } → 200 ChangeResult
 *   POST   /identities/{name}/deactivate         { passphrase } → 200 ChangeResult
 *   POST   /identities/{name}/backup             { passphrase } → 200 Backup (identity.json and the sealed key files)
 *   POST   /backups                              { backup, passphrase, name? } → 201 IdentitySummary (restores a backup)
 *   POST   /identities/{name}/update-keys/export { passphrase } → 200 ColdKeys (the sealed update key; nothing changes)
 *   POST   /identities/{name}/update-keys/cold   { passphrase, publicKeys } → 200 IdentityDetail (the daemon drops them)
 *   GET    /status                               → 200 DaemonStatus (health, peers, cache, keeper)
 *   PUT    /didauth                              { identity } → 200 DidAuthState (the identity DIDAuth proves)
 *   GET    /pins                                 → 200 { pins: [{ did, kind }] }
 *   PUT    /pins/{did}                           → 201 (newly pinned) | 200 (already pinned, or own) { did, kind }
 *   DELETE /pins/{did}                           → 204 | 404 not_pinned | 409 own_identity
 *   GET    /keeper                               → 200 { intervalMs, last: KeeperRound | null }
 *   GET    /peers                                → 200 { peers: PeerSession[] } (peers authenticated by DIDAuth)
 *   POST   /peers/auth                           { address, as? } → 200 { ok: true, peer: PeerSession } | 422 { reason }
 *   POST   /identities/{name}/sign               { type: 'jwt' | 'jws', … } → 200 a JWT or a detached JWS (admin-sign.ts)
 * Every change signs a new version; with pre-rotation (the default) each one also moves the update key to the
 * committed next key, so there is no separate update-key rotation route.
 *
 * Cold update keys: `update-keys/export` hands out the sealed key file of the update key that signs next; once the
 * caller has stored it, `update-keys/cold` (naming its public key, as proof) deletes the update keys here. Every
 * change body then carries `updateKey: { signer: <that sealed key file>, next?: <Multikey> }`: the daemon opens the
 * signer with the passphrase for this one request, and with pre-rotation commits to `next`, a key the caller made
 * and stored beforehand — the daemon never holds it. Without `updateKey` such a change is 409 `update_key_required`;
 * an older copy of the key file is 403 `wrong_update_key`. Sealed key files in answers are only those the owner
 * asked for (backup, export), encrypted under the passphrase.
 */
import express from 'express'
import { z } from 'zod'
import { MAX_SERVICES, MAX_SERVICE_ENDPOINTS, MAX_SERVICE_TYPES, MAX_URI_LENGTH, VERIFICATION_RELATIONSHIPS } from '../did/document.ts'
import { parseDid } from '../did/identifier.ts'
import { InvalidDidError, InvalidDocumentError, IpidError, OperationError } from '../errors.ts'
import { MAX_PASSPHRASE_LENGTH } from '../identity/keystore.ts'
import { tokensEqual } from './admin-token.ts'
import { isLoopbackAddress } from './loopback.ts'
import type { KeeperRound } from '../cache/keeper.ts'
import type { Change, ChangeResult, ColdUpdateKey, Identities, IdentityFile, IdentitySummary } from '../identity/identities.ts'
import type { Logger } from '../log.ts'
import type { NextFunction, Request, Response, Router } from 'express'
import { sendProblem } from './problem.ts'
import { signRouter } from './admin-sign.ts'
import type { Metrics } from '../metrics.ts'
import { DidAuthError } from '../auth/errors.ts'
import type { PeerSession } from '../auth/registry.ts'
import type { DidAuthState } from '../auth/identity-choice.ts'

/** Where the app mounts this router. */
export const ADMIN_API_PREFIX = '/admin/v1'
/**
 * Largest JSON body accepted. The largest legitimate body is a create with services, and a whole DID document
 * is at most 32 KiB (MAX_DOCUMENT_BYTES); twice that leaves room for JSON escaping and the passphrase.
 */
export const ADMIN_JSON_LIMIT_BYTES = 64 * 1024
/** Largest backup restored: identity.json (its services at most a whole document) and up to a few hundred sealed key files. */
export const ADMIN_BACKUP_LIMIT_BYTES = 512 * 1024
/** Peers listed by `GET /status` (the count is always complete). */
export const MAX_STATUS_PEERS = 64
/** Service fragments: short and safe in a DID URL and in a URL path. */
export const SERVICE_FRAGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const MAX_ERROR_ISSUES = 5

export interface AdminContext {
  token: string
  identities: Identities
  pin: (did: string) => Promise<void>
  unpin: (did: string) => Promise<void>
  pins: () => Promise<Array<{ did: string, kind: 'own' | 'pinned' }>>
  keeper: () => { last?: KeeperRound, intervalMs: number }
  /** What `GET /status` shows; the route answers 404 without it. */
  status?: () => Promise<DaemonStatus>
  /** DIDAuth (the embedded node only): `/peers` answers 404 without it. */
  peers?: PeersContext
  /** DIDAuth's default identity (src/auth/identity-choice.ts), with the embedded node only: kept or moved when one is made. */
  didauth?: { choose: (name: string) => void, settle: () => void, describe: () => DidAuthState }
  /** Allow requests from non-loopback addresses (default false). */
  allowRemote?: boolean
  /** Refused requests (warn) and internal errors (error); never bodies, headers or key material. */
  logger?: Logger
  /** Signatures are counted here (`POST /identities/{name}/sign`). */
  metrics?: Metrics
  /** The time JWTs are signed at (default Date.now). */
  clock?: () => number
}

/** The authenticated peers, and a DIDAuth handshake on request (src/auth/service.ts). */
export interface PeersContext {
  list: () => PeerSession[]
  /** Dials `address` (a multiaddr or a PeerId) and authenticates the peer, acting as `as` if given. Throws DidAuthError. */
  authenticate: (address: string, as?: string) => Promise<PeerSession>
}

/** Longest address accepted by `POST /peers/auth`: a multiaddr with a few protocols and a PeerId. */
export const MAX_PEER_ADDRESS_CHARS = 1024
/** HTTP status of DIDAuth failures that are not the handshake's (everything else is 422). */
const DIDAUTH_STATUS: Readonly<Record<string, number>> = { bad_address: 400, identity_locked: 409, internal_error: 500 }

/** What `GET /status` shows: the daemon's health, its node and peers, cache and keeper figures. */
export interface DaemonStatus {
  version: string
  uptimeSeconds: number
  /** The readiness checks (cache store, IPFS backend), run now. */
  health: { status: 'ok' | 'degraded', checks: Record<string, 'ok' | 'failed' | 'timed out'> }
  httpUrl: string
  ipfs: { backend: string, network: string, peerId?: string, addresses: string[], peerCount: number, peers: string[] }
  /**
   * `locked`: identities whose root key is locked in this run (their records are not re-signed); `earliestExpiry`:
   * the own record that expires first (src/identity/unattended.ts); `damaged`: identities whose identity.json is
   * damaged, stopped until a backup is imported (`ipid ls` says how).
   */
  identities: { held: number, deactivated: number, locked: string[], earliestExpiry: { name: string, did: string, expiresAt: string } | null, damaged: string[] }
  /** The identity DIDAuth proves when a peer names none; null with the Kubo backend (no DIDAuth). */
  didauth: DidAuthState | null
  /** `identities`: null while the store does not answer (within the status deadline). */
  cache: { store: string, identities: number | null, maxIdentities: number, own: number, pinned: number, hits: number, staleAnswers: number, networkLookups: number }
  keeper: { intervalMs: number, last: KeeperRound | null }
}

/** What `GET /identities/{name}` shows: the summary, the public keys and the services. */
export interface IdentityDetail extends IdentitySummary {
  /** Whether every version commits to the next update key. */
  prerotation: boolean
  /** Where the update keys are: on this daemon, or in a cold key file its owner keeps. */
  updateKeys: 'daemon' | 'cold'
  /** With cold update keys: the public key (Multikey) of the one that signs the next version. */
  coldSigner?: string
  keys: Array<{ fragment: string, publicKeyMultibase: string, purposes: string[] }>
  services: Array<{ fragment: string, type: string | string[], serviceEndpoint: unknown }>
}

/** A refusal with an HTTP status and a stable reason; the error middleware turns it into a problem document. */
export class AdminError extends Error {
  readonly status: number
  readonly reason: string

  constructor (status: number, reason: string, message: string) {
    super(message)
    this.name = 'AdminError'
    this.status = status
    this.reason = reason
  }
}

/** HTTP status of each OperationError reason a request can cause; unlisted reasons are 500. */
const OPERATION_STATUS: Readonly<Record<string, number>> = {
  bad_name: 400,
  weak_passphrase: 400,
  passphrase_too_long: 400,
  wrong_passphrase: 403,
  unknown_identity: 404,
  // identity.json is damaged: that identity is stopped until a backup is imported (the message says how).
  damaged_identity: 409,
  unknown_service: 404,
  unknown_key: 404,
  exists: 409,
  duplicate: 409,
  deactivated: 409,
  missing_key: 409,
  bad_backup: 400,
  malformed_key_file: 400,
  next_key_required: 400,
  bad_next_key: 400,
  wrong_update_key: 403,
  update_key_required: 409,
  update_keys_held: 409,
  cold: 409,
  cold_keys_mismatch: 409,
  // The data directory's disk is full: the change was rolled back (src/identity/pending.ts).
  disk_full: 507,
  no_libp2p_node: 409,
  // Signing (src/sign/, admin-sign.ts)
  wrong_purpose: 409,
  key_locked: 409,
  invalid_request: 400,
  reserved_claim: 400,
  bad_expiry: 400,
  too_large: 413
}

const passphrase = z.string().min(1).max(MAX_PASSPHRASE_LENGTH)
const uri = z.string().min(1).max(MAX_URI_LENGTH)
const endpointObject = z.record(z.string(), z.unknown())
const serviceSchema = z.strictObject({
  fragment: z.string().regex(SERVICE_FRAGMENT_RE, 'a fragment is 1–64 letters, digits, ".", "_" or "-"'),
  type: z.union([uri, z.array(uri).min(1).max(MAX_SERVICE_TYPES)]),
  serviceEndpoint: z.union([uri, endpointObject, z.array(z.union([uri, endpointObject])).min(1).max(MAX_SERVICE_ENDPOINTS)])
})
const relationship = z.enum(VERIFICATION_RELATIONSHIPS)
const createSchema = z.strictObject({
  name: z.string().min(1).max(64),
  passphrase,
  services: z.array(serviceSchema).max(MAX_SERVICES).optional(),
  prerotation: z.boolean().optional(),
  /** Make it the identity DIDAuth proves (else the first identity made stays so). */
  didauth: z.boolean().optional(),
  /** List the daemon's PeerId as the `#libp2p` service (opt-in: it links every identity that lists it). */
  peerService: z.boolean().optional()
})
const multikey = z.string().min(1).max(128)
/** A cold update key: its sealed key file (checked by the keystore) and, with pre-rotation, the next key's Multikey. */
const updateKey = z.strictObject({ signer: z.record(z.string(), z.unknown()), next: multikey.optional() }).optional()
const passphraseOnly = z.strictObject({ passphrase })
const changeSchema = z.strictObject({ passphrase, updateKey })
const addServiceSchema = z.strictObject({ passphrase, updateKey, service: serviceSchema })
const addKeySchema = z.strictObject({ passphrase, updateKey, purposes: z.array(relationship).min(1).max(VERIFICATION_RELATIONSHIPS.length).optional() })
const peerAuthSchema = z.strictObject({ address: z.string().min(1).max(MAX_PEER_ADDRESS_CHARS), as: z.string().min(1).max(64).optional() })
const rotateKeySchema = z.strictObject({ passphrase, updateKey, purpose: relationship.optional() })
const restoreSchema = z.strictObject({ backup: z.record(z.string(), z.unknown()), passphrase, name: z.string().min(1).max(64).optional() })
const coldSchema = z.strictObject({ passphrase, publicKeys: z.array(multikey).min(1).max(8) })
const didauthSchema = z.strictObject({ identity: z.string().min(1).max(64) })

export { isLoopbackAddress }

export function adminRouter (ctx: AdminContext): Router {
  const router = express.Router()
  const { identities } = ctx

  router.use((req, res, next) => {
    res.set('cache-control', 'no-store')
    const remoteAddress = req.socket.remoteAddress
    if (ctx.allowRemote !== true && !isLoopbackAddress(remoteAddress)) {
      ctx.logger?.warn({ remoteAddress, path: req.path }, 'admin request refused: not from a loopback address')
      problem(res, 403, 'the admin API answers loopback clients only', { reason: 'not_loopback' })
      return
    }
    const presented = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1]
    if (presented === undefined || !tokensEqual(presented, ctx.token)) {
      if (presented !== undefined) ctx.logger?.warn({ remoteAddress, path: req.path }, 'admin request refused: wrong token')
      res.set('www-authenticate', presented === undefined ? 'Bearer realm="ipidd-admin"' : 'Bearer realm="ipidd-admin", error="invalid_token"')
      problem(res, 401, presented === undefined ? 'an admin token is required (Authorization: Bearer …)' : 'the admin token is wrong', { reason: 'unauthorized' })
      return
    }
    next()
  })
  // Bodies are read only once the caller is authenticated; a backup or a payload to sign may be larger than any other body.
  router.use(signRouter({ identities, clock: ctx.clock ?? Date.now, ...(ctx.logger === undefined ? {} : { logger: ctx.logger }), ...(ctx.metrics === undefined ? {} : { metrics: ctx.metrics }) }, parseBody))
  router.use('/backups', express.json({ limit: ADMIN_BACKUP_LIMIT_BYTES }))
  router.use(express.json({ limit: ADMIN_JSON_LIMIT_BYTES }))

  /** The identities held: `{ identities: IdentitySummary[] }`, sorted by name; `damaged`, when any: those whose identity.json is damaged. */
  router.get('/identities', (_req, res) => {
    const damaged = identities.damaged()
    res.json({ identities: identities.list(), ...(damaged.length === 0 ? {} : { damaged }) })
  })

  /** Creates an identity and publishes its first version: 201 IdentitySummary; 409 `exists`, 400 `bad_name`. */
  router.post('/identities', async (req, res) => {
    const body = parseBody(createSchema, req.body)
    const created = await identities.create({
      name: body.name,
      passphrase: body.passphrase,
      ...(body.services === undefined ? {} : { services: body.services }),
      ...(body.prerotation === undefined ? {} : { prerotation: body.prerotation }),
      ...(body.peerService === undefined ? {} : { peerService: body.peerService })
    })
    const { didauth } = ctx
    if (didauth !== undefined) {
      if (body.didauth === true) didauth.choose(created.name)
      else didauth.settle()
    }
    const proves = didauth?.describe()
    res.status(201).location(`${req.baseUrl}/identities/${created.name}`).json({ ...created, ...(proves === undefined ? {} : { didauth: { identity: proves.identity, unlocked: proves.unlocked } }) })
  })

  /** One identity: summary, public keys, services (IdentityDetail); 404 `unknown_identity`. */
  router.get('/identities/:name', (req, res) => {
    res.json(detailOf(identities.get(req.params.name)))
  })

  /** Adds a service: 201 ChangeResult; 409 `duplicate` when the fragment is taken. */
  router.post('/identities/:name/services', async (req, res) => {
    const body = parseBody(addServiceSchema, req.body)
    const result = await identities.change(req.params.name, body.passphrase, { kind: 'add-service', service: body.service }, coldKey(body.updateKey))
    res.status(201).location(`${req.baseUrl}/identities/${result.name}`).json(changeOf(result))
  })

  /** Removes a service: 200 ChangeResult; 404 `unknown_service`. */
  router.delete('/identities/:name/services/:fragment', async (req, res) => {
    await change(req, res, { kind: 'remove-service', fragment: req.params.fragment })
  })

  /** Adds an authentication key (default purposes: authentication, assertionMethod): 201 ChangeResult. */
  router.post('/identities/:name/keys', async (req, res) => {
    const body = parseBody(addKeySchema, req.body)
    const result = await identities.change(req.params.name, body.passphrase, { kind: 'add-key', ...(body.purposes === undefined ? {} : { purposes: body.purposes }) }, coldKey(body.updateKey))
    res.status(201).location(`${req.baseUrl}/identities/${result.name}`).json(changeOf(result))
  })

  /** Replaces the first key with `purpose` (default authentication) by a new one with the same purposes: 200 ChangeResult. */
  router.post('/identities/:name/keys/rotate', async (req, res) => {
    const body = parseBody(rotateKeySchema, req.body)
    const result = await identities.change(req.params.name, body.passphrase, { kind: 'rotate-key', ...(body.purpose === undefined ? {} : { purpose: body.purpose }) }, coldKey(body.updateKey))
    res.json(changeOf(result))
  })

  /** Removes a key from the document: 200 ChangeResult; 404 `unknown_key`. */
  router.delete('/identities/:name/keys/:fragment', async (req, res) => {
    await change(req, res, { kind: 'remove-key', fragment: req.params.fragment })
  })

  /** Deactivates the DID for good: 200 ChangeResult; later changes are 409 `deactivated`. */
  router.post('/identities/:name/deactivate', async (req, res) => {
    await change(req, res, { kind: 'deactivate' })
  })

  /** An encrypted backup of one identity (the passphrase must open its root key): 200 Backup. */
  router.post('/identities/:name/backup', async (req, res) => {
    const body = parseBody(passphraseOnly, req.body)
    await identities.verifyPassphrase(req.params.name, body.passphrase)
    res.type('application/json').send(identities.exportBackup(req.params.name))
  })

  /** Restores a backup (optionally under another name): 201 IdentitySummary; 400 `bad_backup`, 403, 409 `exists`. */
  router.post('/backups', async (req, res) => {
    const body = parseBody(restoreSchema, req.body)
    const restored = await identities.importBackup(JSON.stringify(body.backup), body.passphrase, body.name)
    ctx.didauth?.settle() // a first identity restored is the one DIDAuth proves, as a first one made is
    // Held from now on (the cache pins it as own), and fetched, if the network has a newer version than the backup.
    // Not awaited: the lookup may wait for the network's deadline, and the restore is done.
    ctx.pin(restored.did).catch((err: Error) => { ctx.logger?.warn({ did: restored.did, err: err.message }, 'restored identity not pinned') })
    res.status(201).location(`${req.baseUrl}/identities/${restored.name}`).json(restored)
  })

  /** The sealed update key that signs next, for its owner to store away; nothing changes here: 200 ColdKeys. */
  router.post('/identities/:name/update-keys/export', async (req, res) => {
    const body = parseBody(passphraseOnly, req.body)
    res.json(await identities.exportUpdateKeys(req.params.name, body.passphrase))
  })

  /** Deletes the update keys here, once stored elsewhere (`publicKeys` names them): 200 IdentityDetail; 409 `cold_keys_mismatch`. */
  router.post('/identities/:name/update-keys/cold', async (req, res) => {
    const body = parseBody(coldSchema, req.body)
    res.json(detailOf(await identities.dropUpdateKeys(req.params.name, body.passphrase, body.publicKeys)))
  })

  /** Identities kept regardless of use: `{ pins: [{ did, kind: 'own' | 'pinned' }] }`. */
  router.get('/pins', async (_req, res) => {
    res.json({ pins: await ctx.pins() })
  })

  /**
   * Pins a DID (fetched now, then kept by the keeper): 201 when newly pinned, 200 when it already was; an own
   * identity is always kept and stays `own` (200).
   */
  router.put('/pins/:did', async (req, res) => {
    const name = parseDid(req.params.did)
    if (ownIds(identities).has(name.id)) {
      res.json({ did: name.did, kind: 'own' })
      return
    }
    const already = (await pinnedIds(ctx)).has(name.id)
    await ctx.pin(name.did)
    res.status(already ? 200 : 201).json({ did: name.did, kind: 'pinned' })
  })

  /** Unpins a DID: 204; 404 `not_pinned`; 409 `own_identity` (the daemon's own are always kept). */
  router.delete('/pins/:did', async (req, res) => {
    const name = parseDid(req.params.did)
    if (ownIds(identities).has(name.id)) throw new AdminError(409, 'own_identity', `${name.did} is held by this daemon and always kept`)
    if (!(await pinnedIds(ctx)).has(name.id)) throw new AdminError(404, 'not_pinned', `${name.did} is not pinned`)
    await ctx.unpin(name.did)
    res.status(204).end()
  })

  /** The keeper: its interval and the last round (`null` before the first). */
  router.get('/keeper', (_req, res) => {
    const { last, intervalMs } = ctx.keeper()
    res.json({ intervalMs, last: last ?? null })
  })

  /** Health, node and peers, cache and keeper figures: 200 DaemonStatus. */
  router.get('/status', async (_req, res, next) => {
    if (ctx.status === undefined) {
      next()
      return
    }
    res.json(await ctx.status())
  })

  /**
   * Chooses the identity DIDAuth proves when a peer names none (kept across restarts): 200 DidAuthState, whose
   * `source` is `configured` when `auth.identity` names another (it wins); 404 `unknown_identity`, or without DIDAuth.
   */
  router.put('/didauth', (req, res, next) => {
    const { didauth } = ctx
    if (didauth === undefined) {
      next()
      return
    }
    didauth.choose(parseBody(didauthSchema, req.body).identity)
    res.json(didauth.describe())
  })

  /** Peers authenticated by DIDAuth now: `{ peers: PeerSession[] }`. */
  router.get('/peers', (_req, res, next) => {
    if (ctx.peers === undefined) {
      next()
      return
    }
    res.json({ peers: ctx.peers.list().map(sessionOf) })
  })

  /**
   * Runs a DIDAuth handshake with a peer (dialled if need be): 200 `{ ok: true, peer }`; 422 with the `reason`
   * when the handshake fails (spec/didauth.md §7); 400 `bad_address`; 404 `unknown_identity` (`as`); 409
   * `identity_locked` (its authentication key is not unlocked here).
   */
  router.post('/peers/auth', async (req, res, next) => {
    if (ctx.peers === undefined) {
      next()
      return
    }
    const body = parseBody(peerAuthSchema, req.body)
    let peer: PeerSession
    try {
      peer = await ctx.peers.authenticate(body.address, body.as)
    } catch (err) {
      if (!(err instanceof DidAuthError)) throw err
      const status = DIDAUTH_STATUS[err.reason] ?? 422
      throw new AdminError(status, err.reason, status === 500 ? 'internal error' : err.message)
    }
    res.json({ ok: true, peer: sessionOf(peer) })
  })

  router.use((_req, res) => {
    problem(res, 404, 'no such admin resource', { reason: 'not_found' })
  })

  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err)
      return
    }
    const { status, detail, reason, code } = describeError(err)
    if (status >= 500) {
      // The message only: ipidd's messages name the problem without key material; bodies are never logged.
      ctx.logger?.error({ method: req.method, path: req.baseUrl + req.path, err: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown' }, 'admin request failed')
    }
    problem(res, status, detail, { ...(reason === undefined ? {} : { reason }), ...(code === undefined ? {} : { code }) })
  })

  async function change (req: Request<{ name: string }>, res: Response, what: Change): Promise<void> {
    const body = parseBody(changeSchema, req.body)
    res.json(changeOf(await identities.change(req.params.name, body.passphrase, what, coldKey(body.updateKey))))
  }

  return router
}

function parseBody<T> (schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw new AdminError(400, 'invalid_request', 'the body must be a JSON object (Content-Type: application/json)')
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  // Zod's messages name the path and the expectation, never the value (a value may be the passphrase).
  const issues = parsed.error.issues.slice(0, MAX_ERROR_ISSUES).map(i => `${i.path.length === 0 ? 'body' : i.path.join('.')}: ${i.message}`)
  throw new AdminError(400, 'invalid_request', issues.join('; '))
}

function describeError (err: unknown): { status: number, detail: string, reason?: string, code?: string } {
  if (err instanceof AdminError) return { status: err.status, detail: err.message, reason: err.reason }
  if (err instanceof OperationError) {
    const status = OPERATION_STATUS[err.reason] ?? 500
    // A full disk is the operator's to fix, and its message names nothing secret: it is told as it is.
    return { status, detail: status < 500 || status === 507 ? err.message : 'internal error', reason: err.reason }
  }
  if (err instanceof InvalidDocumentError || err instanceof InvalidDidError) {
    return { status: 400, detail: err.message, reason: err.reason, code: err.code }
  }
  if (err instanceof IpidError) return { status: 500, detail: 'internal error', reason: err.reason, code: err.code }
  // body-parser: never its message, which may quote the body (and so the passphrase).
  const parser = err as { type?: unknown, status?: unknown, limit?: unknown }
  if (parser.type === 'entity.too.large') return { status: 413, detail: `the body is larger than ${typeof parser.limit === 'number' ? parser.limit : ADMIN_JSON_LIMIT_BYTES} bytes`, reason: 'body_too_large' }
  if (typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500 && typeof parser.type === 'string') {
    return { status: parser.status === 415 ? 415 : 400, detail: 'the body must be valid JSON (application/json, UTF-8)', reason: 'invalid_json' }
  }
  return { status: 500, detail: 'internal error' }
}

/** An RFC 9457 problem document, with ipidd's `reason` and `code` when there are. */
function problem (res: Response, status: number, detail: string, extra: { reason?: string, code?: string } = {}): void {
  sendProblem(res, status, detail, extra)
}

/** The options of `Identities.change` for a body's `updateKey`. */
function coldKey (updateKey: { signer: Record<string, unknown>, next?: string | undefined } | undefined): { updateKey?: ColdUpdateKey } {
  if (updateKey === undefined) return {}
  return { updateKey: { signer: updateKey.signer, ...(updateKey.next === undefined ? {} : { next: updateKey.next }) } }
}

function detailOf (file: IdentityFile): IdentityDetail {
  const { cold } = file.keys
  return {
    name: file.name,
    did: file.did,
    versionId: file.head,
    version: file.version,
    deactivated: file.deactivated,
    prerotation: cold?.prerotation ?? file.keys.next !== undefined,
    updateKeys: cold === undefined ? 'daemon' : 'cold',
    ...(cold === undefined ? {} : { coldSigner: cold.signer }),
    keys: file.keys.auth.map(k => ({ fragment: k.fragment, publicKeyMultibase: k.publicKey, purposes: [...k.purposes] })),
    services: file.services.map(s => ({ fragment: s.fragment, type: s.type, serviceEndpoint: s.serviceEndpoint }))
  }
}

/** A PeerSession with its fields named. */
function sessionOf (session: PeerSession): PeerSession {
  const { peerId, did, keyId, versionId, source, verifiedAt, expiresAt } = session
  return { peerId, did, keyId, ...(versionId === undefined ? {} : { versionId }), ...(source === undefined ? {} : { source }), verifiedAt, expiresAt }
}

/** A ChangeResult with its fields named, so that nothing added to the type later leaks out unreviewed. */
function changeOf (result: ChangeResult): ChangeResult {
  const { name, did, versionId, version, deactivated, previousVersionId, added, removed } = result
  return { name, did, versionId, version, deactivated, previousVersionId, added, removed }
}

function ownIds (identities: Identities): Set<string> {
  return new Set(identities.list().map(i => parseDid(i.did).id))
}

async function pinnedIds (ctx: AdminContext): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const pin of await ctx.pins()) {
    if (pin.kind !== 'pinned') continue
    try {
      ids.add(parseDid(pin.did).id)
    } catch {}
  }
  return ids
}
