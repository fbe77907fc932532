/**
 * Composition root: builds the daemon's parts from one configuration, starts them in order and stops them in
 * reverse. Only this module knows every part.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ResolveCache } from './cache/cache.ts'
import { Keeper } from './cache/keeper.ts'
import { PinFile, PinFileError } from './cache/pin-file.ts'
import { createStore } from './cache/stores.ts'
import { DataDirLockedError, lockDataDir } from './daemon-lock.ts'
import { parseDid } from './did/identifier.ts'
import { ADMIN_URL_FILE, AdminTokenError, loadOrCreateAdminToken } from './http/admin-token.ts'
import { MAX_STATUS_PEERS } from './http/admin.ts'
import { removeStaleTemps, writeFileAtomic } from './identity/keystore.ts'
import { createApp, createProbesApp } from './http/app.ts'
import { DEFAULT_HTTP_LIMITS, HttpServerError, createHttpServer } from './http/protect.ts'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { Metrics } from './metrics.ts'
import { formatTime, systemClock } from './did/time.ts'
import { IDENTITIES_DIR, Identities } from './identity/identities.ts'
import { DidAuthService } from './auth/service.ts'
import { DidAuthChoice } from './auth/identity-choice.ts'
import { unattendedState } from './identity/unattended.ts'
import { createEmbeddedNode } from './ipfs/helia.ts'
import { createKuboBackend } from './ipfs/kubo.ts'
import { Resolver } from './resolver/resolver.ts'
import { VERSION } from './version.ts'
import type { DaemonStatus } from './http/admin.ts'
import type { HttpLimits, ReadinessCheck } from './http/protect.ts'
import type { SealOptions } from './identity/keystore.ts'
import type { CommitOperation, CommitStep } from './identity/pending.ts'
import type { IpfsBackend } from './ipfs/backend.ts'
import type { EmbeddedNode } from './ipfs/helia.ts'
import type { Config } from './config.ts'
import type { Clock } from './did/time.ts'
import type { Logger } from './log.ts'
import type { AuthSigner } from './identity/identities.ts'
import type { UnattendedState } from './identity/unattended.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** How long in-flight HTTP requests may take to finish once a stop begins. */
export const SHUTDOWN_DEADLINE_MS = 10_000
/** How often the daemon checks whether its own records need re-signing; jittered by up to a tenth. */
export const REPUBLISH_CHECK_INTERVAL_MS = 10 * 60 * 1000
/** The raw block of zero bytes as an identity CID: what `/readyz` asks the IPFS backend for. */
export const READY_PROBE_CID = CID.createV1(0x55, identity.digest(new Uint8Array()))
/** The file `/readyz` writes and removes to learn that the data directory takes writes (a full disk does not). */
export const READY_PROBE_FILE = '.readyz-probe'
/** Folders below `<dataDir>/identities` that hold files written atomically (`<name>/keys/`). */
const IDENTITY_TREE_DEPTH = 2
/** How long each health check of `GET /admin/v1/status` may take. */
export const STATUS_CHECK_DEADLINE_MS = 2_000

export class DaemonStartError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DaemonStartError'
  }
}

export interface Daemon {
  readonly config: Config
  readonly httpUrl: string
  /** The probes listener (`http.probesPort`): `/healthz`, `/readyz` and `/metrics` alone, plain HTTP. */
  readonly probesUrl?: string
  readonly backend: IpfsBackend
  /** The embedded node, when the daemon runs one (not with the Kubo backend). */
  readonly node?: EmbeddedNode
  readonly resolver: Resolver
  readonly identities: Identities
  readonly cache: ResolveCache
  readonly keeper: Keeper
  readonly metrics: Metrics
  /** DIDAuth over libp2p (spec/didauth.md): with the embedded node only. */
  readonly auth?: DidAuthService
  /** The identity DIDAuth proves when a peer names none (with the embedded node only). */
  readonly didauth?: DidAuthChoice
  /** Which identities are locked in this run (their records are not re-signed) and when own records expire. */
  unattended: () => Promise<UnattendedState>
  /** Keeps an identity alive for others: held, never evicted, republished by the keeper. */
  pin: (did: string) => Promise<void>
  unpin: (did: string) => Promise<void>
  stop: () => Promise<void>
}

export interface DaemonOptions {
  logger: Logger
  clock?: Clock
  /** Unlocks the root keys of held identities at start, so their records are republished unattended. */
  passphrase?: string
  /** How often the keeper looks at the clock (tests move an injected clock and tick fast). */
  keeperTickMs?: number
  /** The access log (one line per HTTP request); the main logger when not given. */
  accessLogger?: Logger
  /** Key derivation cost of new key files; the keystore's interactive default when not given (tests lower it). */
  seal?: SealOptions
  /** Called at each step of every identity change (src/identity/pending.ts): tests stop the process there. */
  onCommitStep?: (step: CommitStep, operation: CommitOperation) => void
}

export async function startDaemon (config: Config, options: DaemonOptions): Promise<Daemon> {
  const { logger } = options
  const clock = options.clock ?? systemClock
  const startedAtMs = clock()
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  let releaseLock: () => void
  try {
    releaseLock = lockDataDir(config.dataDir)
  } catch (err) {
    if (err instanceof DataDirLockedError) throw new DaemonStartError(err.message, { cause: err })
    throw err
  }
  // Temporary files of atomic writes cut short by a crash; the lock says that no other writer is running.
  for (const path of [...removeStaleTemps(config.dataDir, 0), ...removeStaleTemps(join(config.dataDir, IDENTITIES_DIR), IDENTITY_TREE_DEPTH)]) {
    logger.info({ path }, 'removed the temporary file of an interrupted write')
  }
  let adminToken: string
  try {
    adminToken = loadOrCreateAdminToken(config.dataDir)
  } catch (err) {
    releaseLock()
    if (err instanceof AdminTokenError) throw new DaemonStartError(err.message, { cause: err })
    throw err
  }
  const started: Array<() => Promise<void> | void> = [releaseLock]
  const unwind = async (): Promise<void> => {
    for (const stopPart of started.reverse()) await stopPart()
  }
  try {
    const node = config.ipfs.backend === 'embedded'
      ? await createEmbeddedNode({
        dataDir: join(config.dataDir, 'ipfs'),
        listen: config.ipfs.listen,
        announce: config.ipfs.announce,
        bootstrap: config.ipfs.bootstrap,
        network: config.ipfs.network,
        logger
      })
      : undefined
    const backend: IpfsBackend = node ?? createKuboBackend({ url: config.ipfs.kuboUrl ?? '', logger })
    await backend.start()
    started.push(async () => backend.stop())

    const metrics = new Metrics({ processMetrics: true })
    const cache = new ResolveCache({ store: createStore(config.cache.url, config.dataDir), clock, logger, metrics, maxIdentities: config.cache.maxIdentities })
    await cache.start()
    started.push(async () => cache.stop())

    const resolver = new Resolver({ backend, clock, logger, cache, metrics, expiredGraceMs: config.cache.expiredGraceMs })
    started.push(() => { resolver.stop() })
    const identities = new Identities({
      dataDir: config.dataDir,
      backend,
      clock,
      logger,
      ...(options.seal === undefined ? {} : { seal: options.seal }),
      ...(options.onCommitStep === undefined ? {} : { onCommitStep: options.onCommitStep }),
      ...(node === undefined ? {} : { peerId: node.peerId.toString() }),
      onPublished: async (name, record) => {
        await cache.pin(name.id, 'own')
        await resolver.offer(name, record)
      }
    })
    // Changes a crash left half done are completed first (already signed: no passphrase needed).
    await identities.recover()
    // The daemon's own identities (identities/) and its operator's pins (pins.json) live in the data directory; the
    // store holds a copy, which a shared store can lose, and the cache re-asserts it every maintenance round.
    const pinFile = new PinFile(config.dataDir, writeFileAtomic)
    let found: boolean
    try {
      found = pinFile.load()
    } catch (err) {
      throw err instanceof PinFileError ? new DaemonStartError(err.message, { cause: err }) : err
    }
    if (!found) {
      // A data directory from before pins.json: its pins were in the store only. Tried again at the next start if
      // the store does not answer now.
      await cache.pins().then(pins => { pinFile.create(pins.filter(p => p.kind === 'pinned').map(p => p.id)) },
        (err: Error) => { logger.warn({ err: err.message }, 'the pins held in the cache store could not be read into pins.json') })
    }
    cache.keepPins(() => {
      const mine = new Set(identities.list().map(i => parseDid(i.did).id))
      return [...[...mine].map(id => ({ id, kind: 'own' as const })), ...pinFile.list().filter(id => !mine.has(id)).map(id => ({ id, kind: 'pinned' as const }))]
    })
    await cache.reassertPins().catch((err: Error) => { logger.warn({ err: err.message }, 'pins not re-asserted in the cache store yet') })
    // The daemon's own identities are answered from its own state whatever the cache holds (emptied, deleted, a
    // store that lost its data): the embedded node keeps the records it published, and their blocks, on disk.
    if (node !== undefined) await offerOwnRecords(identities, node, resolver, logger)
    if (options.passphrase !== undefined) {
      for (const { name, deactivated } of identities.list()) {
        const opened = await identities.unlockRoot(name, options.passphrase).then(() => true, (err: Error) => {
          logger.warn({ name, err: err.message }, 'could not unlock the identity for republishing')
          return false
        })
        // Each key costs a key derivation: only when the passphrase is right. DIDAuth and signing use them.
        if (!opened || deactivated) continue
        await identities.unlockAuth(name, options.passphrase).catch((err: Error) => {
          logger.warn({ name, err: err.message }, 'could not unlock the identity\'s document keys (DIDAuth, signing)')
        })
      }
    }
    // Told at start, in the status and in /metrics: a daemon that cannot re-sign loses its identities in a week.
    const heldRecord = async (id: string): Promise<Uint8Array | undefined> => withDeadline(cache.read(id).then(stored => stored?.entry?.record), STATUS_CHECK_DEADLINE_MS)
    const unattended = async (): Promise<UnattendedState> => unattendedState(identities, heldRecord, clock())
    metrics.watchUnattended(unattended)
    const atStart = await unattended()
    if (atStart.locked.length > 0) {
      const first = atStart.expiries.find(e => atStart.locked.includes(e.name))
      logger.warn({ locked: atStart.locked, ...(first === undefined ? {} : { firstExpiry: formatTime(first.expiresAtMs) }) },
        'identities locked: their records are not re-signed and expire at their EOL; start the daemon with IPIDD_PASSPHRASE or IPIDD_PASSPHRASE_FILE')
    }
    const republish = (): void => {
      identities.recover().then(async () => identities.republish())
        .then(count => { if (count > 0) logger.info({ count }, 'records re-signed and republished') })
        .catch((err: Error) => { logger.warn({ err: err.message }, 'republishing failed') })
    }
    const timer = setInterval(republish, REPUBLISH_CHECK_INTERVAL_MS + Math.floor(Math.random() * REPUBLISH_CHECK_INTERVAL_MS / 10))
    timer.unref()
    started.push(() => { clearInterval(timer) })
    republish()

    const keeper = new Keeper({
      backend,
      cache,
      clock,
      logger,
      metrics,
      intervalMs: config.cache.keeperIntervalMs,
      keepResolved: config.cache.keepResolved,
      fetch: async did => resolver.resolve(did),
      ...(options.keeperTickMs === undefined ? {} : { tickMs: options.keeperTickMs })
    })
    keeper.start()
    started.push(async () => keeper.stop())
    const didauth = node === undefined
      ? undefined
      : new DidAuthChoice({ dataDir: config.dataDir, identities, logger, ...(config.auth.identity === undefined ? {} : { configured: config.auth.identity }) })
    didauth?.settle()
    const auth = node === undefined || didauth === undefined
      ? undefined
      : new DidAuthService({
        libp2p: node.libp2p as Libp2p,
        resolver,
        clock,
        logger,
        metrics,
        signer: name => didAuthSigner(identities, didauth, name),
        requirePeerProof: config.auth.requirePeerProof,
        autoAuthenticate: config.auth.autoAuthenticate,
        stepTimeoutMs: config.auth.stepTimeoutMs,
        limits: config.auth.limits
      })
    if (auth !== undefined) {
      if (config.auth.identity !== undefined && !identities.list().some(i => i.name === config.auth.identity)) {
        logger.warn({ identity: config.auth.identity }, 'DIDAuth: the configured identity is not held here; this daemon proves no DID')
      }
      await auth.start()
      started.push(async () => auth.stop())
    }
    const own = (id: string): boolean => identities.list().some(i => parseDid(i.did).id === id)
    // A pin is held once it is in pins.json; the store's copy follows, now or at the next maintenance round.
    const storePin = (id: string, write: Promise<void>): void => {
      write.catch((err: Error) => { logger.warn({ id, err: err.message }, 'the cache store did not take the pin change yet') })
    }
    const pin = async (did: string): Promise<void> => {
      const name = parseDid(did)
      if (!own(name.id)) pinFile.add(name.id)
      storePin(name.id, cache.pin(name.id, own(name.id) ? 'own' : 'pinned'))
      await resolver.resolve(name.did) // fetch it now, so that it is held while its owner is offline
    }
    const unpin = async (did: string): Promise<void> => {
      const name = parseDid(did)
      pinFile.remove(name.id)
      storePin(name.id, own(name.id) ? cache.pin(name.id, 'own') : cache.unpin(name.id))
    }

    const limits: HttpLimits = {
      ...DEFAULT_HTTP_LIMITS,
      trustProxy: config.http.trustProxy,
      rateLimit: { ...DEFAULT_HTTP_LIMITS.rateLimit, requestsPerWindow: config.http.rateLimitPerMinute, windowMs: 60_000, burst: config.http.rateLimitBurst }
    }
    const readinessChecks: ReadinessCheck[] = [
      // A lookup of an id that is never stored: cheap on every store (count() can be slow on PostgreSQL).
      { name: 'cache', check: async signal => { await cache.probe(signal) } },
      // An identity CID carries its bytes: any backend answers it locally, without the network.
      { name: 'ipfs', check: async signal => { await backend.getBlock(READY_PROBE_CID, { signal }) } },
      // Changes write identity.json, key files and blocks there: a full or read-only disk makes every change fail.
      { name: 'dataDir', check: async () => { probeWritable(join(config.dataDir, READY_PROBE_FILE)) } }
    ]
    const status = async (): Promise<DaemonStatus> => {
      const checks = await Promise.all(readinessChecks.map(async ({ name, check }): Promise<[string, 'ok' | 'failed' | 'timed out']> => {
        const signal = AbortSignal.timeout(STATUS_CHECK_DEADLINE_MS)
        const deadline = new Promise<'timed out'>(resolve => { signal.addEventListener('abort', () => { resolve('timed out') }, { once: true }) })
        return [name, await Promise.race([check(signal).then(() => 'ok' as const, () => signal.aborted ? 'timed out' as const : 'failed' as const), deadline])]
      }))
      const held = identities.list()
      const state = await unattended()
      // The store's figures within the checks' deadline: a hung store must not hold the status up.
      const [pins, count] = await Promise.all([cache.pins(), cache.count(AbortSignal.timeout(STATUS_CHECK_DEADLINE_MS)).catch(() => null)])
      const peers = node === undefined ? [] : (node.libp2p as { getPeers: () => Array<{ toString: () => string }> }).getPeers().map(String)
      const total = async (counter: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> => (await counter.get()).values.reduce((sum, v) => sum + v.value, 0)
      return {
        version: VERSION,
        uptimeSeconds: Math.floor((clock() - startedAtMs) / 1000),
        health: { status: checks.every(([, outcome]) => outcome === 'ok') ? 'ok' : 'degraded', checks: Object.fromEntries(checks) },
        httpUrl,
        ipfs: {
          backend: backend.kind,
          network: config.ipfs.network,
          ...(node === undefined ? {} : { peerId: node.peerId.toString() }),
          addresses: node?.multiaddrs() ?? [],
          peerCount: peers.length,
          peers: peers.slice(0, MAX_STATUS_PEERS)
        },
        identities: {
          held: held.length,
          deactivated: held.filter(i => i.deactivated).length,
          locked: state.locked,
          earliestExpiry: state.expiries[0] === undefined ? null : { name: state.expiries[0].name, did: state.expiries[0].did, expiresAt: formatTime(state.expiries[0].expiresAtMs) },
          damaged: identities.damaged().map(d => d.name)
        },
        didauth: didauth?.describe() ?? null,
        cache: {
          store: cache.store.kind,
          identities: count,
          maxIdentities: config.cache.maxIdentities,
          own: pins.filter(p => p.kind === 'own').length,
          pinned: pins.filter(p => p.kind === 'pinned').length,
          hits: await total(metrics.cacheHits),
          staleAnswers: await total(metrics.staleAnswers),
          networkLookups: await total(metrics.networkLookups)
        },
        keeper: { intervalMs: config.cache.keeperIntervalMs, last: keeper.last ?? null }
      }
    }
    const app = createApp({
      startedAtMs,
      now: clock,
      logger,
      accessLogger: options.accessLogger ?? logger,
      limits,
      readinessChecks,
      probesAccess: config.http.probesAccess,
      resolver,
      metrics,
      testIdentifiers: () => config.testIdentifiers,
      routing: {
        getRecord: async name => resolver.bestRecord(name),
        putRecord: async (name, record, signal) => resolver.offer(name, record, { signal }),
        logger
      },
      admin: {
        token: adminToken,
        identities,
        pin,
        unpin,
        logger,
        metrics,
        clock,
        pins: async () => (await cache.pins()).map(p => ({ did: `did:ipid:${p.id}`, kind: p.kind })),
        keeper: () => ({ ...(keeper.last === undefined ? {} : { last: keeper.last }), intervalMs: config.cache.keeperIntervalMs }),
        ...(didauth === undefined ? {} : { didauth }),
        ...(auth === undefined ? {} : { peers: { list: () => auth.registry.list(), authenticate: async (address: string, as?: string) => auth.authenticate(address, as === undefined ? {} : { as }) } }),
        status
      }
    })
    let httpServer: Server
    try {
      httpServer = createHttpServer(app, { limits, logger, ...(config.http.tlsCertFile === undefined ? {} : { tlsCertFile: config.http.tlsCertFile, tlsKeyFile: config.http.tlsKeyFile }) })
    } catch (err) {
      throw err instanceof HttpServerError ? new DaemonStartError(err.message, { cause: err }) : err
    }
    const server = await listen(httpServer, config.http.host, config.http.port)
    // An accept error (EMFILE) must not crash the daemon.
    server.on('error', (err: Error) => { logger.error({ err: err.message }, 'HTTP server error') })
    started.push(async () => closeServer(server, SHUTDOWN_DEADLINE_MS))
    const httpUrl = urlOf(server, config.http.tlsCertFile === undefined ? 'http' : 'https')
    let probesUrl: string | undefined
    if (config.http.probesPort !== undefined) {
      const probes = await listen(createHttpServer(createProbesApp({ startedAtMs, now: clock, metrics, readinessChecks, logger }), { limits, logger }), config.http.probesHost ?? config.http.host, config.http.probesPort)
      probes.on('error', (err: Error) => { logger.error({ err: err.message }, 'probes listener error') })
      started.push(async () => closeServer(probes, SHUTDOWN_DEADLINE_MS))
      probesUrl = urlOf(probes, 'http')
    }
    // Where `ipid` finds this daemon's API (whatever port it got); gone again once the daemon stops.
    const urlFile = join(config.dataDir, ADMIN_URL_FILE)
    writeFileAtomic(urlFile, `${httpUrl}\n`)
    started.push(() => { rmSync(urlFile, { force: true }) })
    logger.info({
      version: VERSION,
      dataDir: config.dataDir,
      httpUrl,
      ...(probesUrl === undefined ? {} : { probesUrl }),
      backend: backend.kind,
      cache: cache.store.kind,
      ...(node === undefined ? {} : { peerId: node.peerId.toString(), listen: node.multiaddrs() }),
      identities: identities.list().map(i => i.did)
    }, 'ipidd started')

    let stopping: Promise<void> | undefined
    const stop = async (): Promise<void> => {
      stopping ??= (async () => {
        logger.info('ipidd stopping')
        await unwind()
        logger.info('ipidd stopped')
      })()
      return stopping
    }
    return { config, httpUrl, ...(probesUrl === undefined ? {} : { probesUrl }), backend, ...(node === undefined ? {} : { node }), resolver, identities, cache, keeper, metrics, ...(auth === undefined ? {} : { auth }), ...(didauth === undefined ? {} : { didauth }), unattended, pin, unpin, stop }
  } catch (err) {
    await unwind()
    throw err
  }
}

/**
 * The identity DIDAuth acts as: the one asked for (an unknown name throws `unknown_identity`), else the default
 * (configured, chosen, or the only one held: DidAuthChoice). Its key must be unlocked in this run.
 */
function didAuthSigner (identities: Identities, choice: DidAuthChoice, name: string | undefined): AuthSigner | undefined {
  if (name !== undefined) return identities.authSigner(name)
  try {
    const chosen = choice.current().name
    return chosen === undefined ? undefined : identities.authSigner(chosen)
  } catch {
    return undefined // a configured identity that is not held: proves nothing (warned at start)
  }
}

/**
 * Offers each own identity's record, as the node kept it, to the resolver: a no-op when the cache holds it (or a
 * later one), the way back when the cache lost it. Its blocks are in the node's blockstore.
 */
async function offerOwnRecords (identities: Identities, node: EmbeddedNode, resolver: Resolver, logger: Logger): Promise<void> {
  for (const { did, versionId } of identities.list()) {
    const name = parseDid(did)
    const record = await node.keptRecord(name)
    if (record === undefined) {
      logger.warn({ did, versionId }, 'the node keeps no record of this own identity: it resolves from the cache or the network until its next change or republish')
      continue
    }
    await resolver.offer(name, record).catch((err: Error) => {
      logger.warn({ did, versionId, err: err.message }, 'the record the node kept of this own identity could not be offered to the resolver')
    })
  }
}

/** Writes and removes a small file: throws when the folder takes no writes (a full disk, a read-only mount). */
function probeWritable (path: string): void {
  writeFileSync(path, 'ok\n', { mode: 0o600 })
  rmSync(path, { force: true })
}

/** `work`'s answer, or undefined once `ms` have passed (a hung shared store must not hold up a start or a scrape). */
async function withDeadline<T> (work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, ms); timer.unref() })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function urlOf (server: Server, scheme: 'http' | 'https'): string {
  const address = server.address() as AddressInfo
  return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

async function listen (server: Server, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('listening', () => { resolve(server) })
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new DaemonStartError(err.code === 'EADDRINUSE'
        ? `HTTP port ${host}:${port} is already in use: stop the other program or set --http-port`
        : `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
    })
    server.listen(port, host)
  })
}

async function closeServer (server: Server, deadlineMs: number): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(() => { server.closeAllConnections() }, deadlineMs)
    timer.unref()
    server.close(() => { clearTimeout(timer); resolve() })
    server.closeIdleConnections()
  })
}
