/**
 * One validated configuration: defaults < config file < environment (`IPIDD_*`) < command-line flags.
 * Pure apart from `readConfigFile`; the daemon and CLI call `loadConfig`.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { DEFAULT_DIDAUTH_LIMITS } from './auth/limits.ts'
import { STEP_TIMEOUT_MS } from './auth/framing.ts'
import { DEFAULT_KEEPER_INTERVAL_MS } from './cache/keeper.ts'
import { DEFAULT_MAX_IDENTITIES } from './cache/store.ts'
import { RATE_LIMIT_BURST, RATE_LIMIT_REQUESTS_PER_WINDOW, RATE_LIMIT_WINDOW_MS } from './http/protect.ts'
import { DEFAULT_EXPIRED_GRACE_MS } from './resolver/resolver.ts'
import { IDENTITY_NAME_RE, defaultDataDir } from './shared-constants.ts'
import { parseDid } from './did/identifier.ts'

export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 8080
/** libp2p TCP, on every interface: inbound only; the node dials nobody it is not told to. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001']
export const CONFIG_FILE_NAME = 'config.json'
/** A config file is a few hundred bytes; anything much larger is a mistake, not a configuration. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024

/** Bounds on cache settings, so a typo cannot disable the size bound or make the keeper spin. */
export const MAX_CACHE_IDENTITIES = 100_000_000
export const MIN_KEEPER_INTERVAL_MS = 60_000
/** Bounds on DIDAuth settings: a step deadline too short fails honest peers, too long lets silent ones hold slots. */
export const MIN_AUTH_STEP_TIMEOUT_MS = 100
export const MAX_AUTH_STEP_TIMEOUT_MS = 120_000
/** `/1.0/testIdentifiers` lists a handful of DIDs for conformance suites, not a directory. */
export const MAX_TEST_IDENTIFIERS = 64
/** Who may read `/metrics` and `/readyz` on the main listener: loopback clients only, or anyone who reaches it. */
export const PROBES_ACCESS = ['loopback', 'any'] as const

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const configSchema = z.strictObject({
  /** Holds keys, the cache and node state; created 0700. */
  dataDir: z.string().min(1),
  http: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    /** Proxies whose X-Forwarded-For is believed: false, a hop count, or addresses/subnets ('loopback', '10.0.0.0/8'). */
    trustProxy: z.union([z.literal(false), z.number().int().min(1).max(16), z.array(z.string().min(1)).min(1).max(64)]),
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    rateLimitPerMinute: z.number().int().min(1).max(1_000_000),
    rateLimitBurst: z.number().int().min(1).max(100_000),
    /**
     * `/metrics` and `/readyz` on the main listener: `loopback` (default) answers loopback clients only (behind a
     * proxy, the client the trusted proxy names), so a daemon bound to 0.0.0.0 does not show them to the world.
     */
    probesAccess: z.enum(PROBES_ACCESS),
    /** A second listener for `/healthz`, `/readyz` and `/metrics` alone, open to whoever reaches it (a kubelet, Prometheus). */
    probesPort: z.number().int().min(0).max(65535).optional(),
    /** Its address; the main listener's when not given. */
    probesHost: z.string().min(1).optional()
  }).refine(h => (h.tlsCertFile === undefined) === (h.tlsKeyFile === undefined), { message: 'TLS needs both http.tlsCertFile and http.tlsKeyFile (IPIDD_TLS_CERT, IPIDD_TLS_KEY)' }),
  logLevel: z.enum(logLevels),
  /** DIDs listed at `/1.0/testIdentifiers` (the DID Resolution test suite asks for them); none by default. */
  testIdentifiers: z.array(z.string().refine(isIpidDid, 'a did:ipid DID')).max(MAX_TEST_IDENTIFIERS),
  ipfs: z.strictObject({
    /** `embedded` (Helia in this process) or `kubo` (a Kubo node over its RPC API). */
    backend: z.enum(['embedded', 'kubo']),
    kuboUrl: z.string().url().optional(),
    listen: z.array(z.string().startsWith('/')).max(16),
    announce: z.array(z.string().startsWith('/')).max(16),
    bootstrap: z.array(z.string().startsWith('/')).max(64),
    /** `local`: dial only the bootstrap list given; `public`: join the public IPFS network. */
    network: z.enum(['local', 'public'])
  }).refine(ipfs => ipfs.backend !== 'kubo' || ipfs.kuboUrl !== undefined, { message: 'the kubo backend needs ipfs.kuboUrl (IPIDD_KUBO_URL, --kubo-url)' }),
  cache: z.strictObject({
    /** Unset: SQLite in the data directory. `sqlite:<path>`, `redis://…`, `postgres://…` otherwise. */
    url: z.string().regex(/^(sqlite:|rediss?:\/\/|postgres(ql)?:\/\/)/, 'must start with sqlite:, redis://, rediss://, postgres:// or postgresql://').optional(),
    maxIdentities: z.number().int().min(1).max(MAX_CACHE_IDENTITIES),
    /** How long past its EOL a record is still served, flagged as expired. */
    expiredGraceMs: z.number().int().min(0),
    /** The keeper republishes identities resolved lately too, not only own and pinned ones. */
    keepResolved: z.boolean(),
    keeperIntervalMs: z.number().int().min(MIN_KEEPER_INTERVAL_MS)
  }),
  /** DIDAuth over libp2p (spec/didauth.md); only with the embedded node. */
  auth: z.strictObject({
    /** The identity this daemon proves itself as; unset: the one chosen on it (src/auth/identity-choice.ts: the first made). */
    identity: z.string().regex(IDENTITY_NAME_RE, 'an identity name').optional(),
    /** Refuse peers that do not prove a DID when they open a handshake. */
    requirePeerProof: z.boolean(),
    /** Authenticate every peer that connects and speaks DIDAuth. */
    autoAuthenticate: z.boolean(),
    stepTimeoutMs: z.number().int().min(MIN_AUTH_STEP_TIMEOUT_MS).max(MAX_AUTH_STEP_TIMEOUT_MS),
    limits: z.strictObject({
      maxConcurrent: z.number().int().min(1).max(100_000),
      maxConcurrentPerPeer: z.number().int().min(1).max(1000),
      perPeerPerMinute: z.number().int().min(1).max(1_000_000),
      burst: z.number().int().min(1).max(1_000_000)
    })
  })
})
export type Config = z.infer<typeof configSchema>

/** The parts of a configuration a file, the environment or flags may set. */
export type ConfigInput = {
  dataDir?: string
  http?: { host?: string, port?: number, trustProxy?: false | number | string[], tlsCertFile?: string, tlsKeyFile?: string, rateLimitPerMinute?: number, rateLimitBurst?: number, probesAccess?: string, probesPort?: number, probesHost?: string }
  logLevel?: string
  testIdentifiers?: string[]
  ipfs?: { backend?: string, kuboUrl?: string, listen?: string[], announce?: string[], bootstrap?: string[], network?: string }
  cache?: { url?: string, maxIdentities?: number, expiredGraceMs?: number, keepResolved?: boolean, keeperIntervalMs?: number }
  auth?: {
    identity?: string
    requirePeerProof?: boolean
    autoAuthenticate?: boolean
    stepTimeoutMs?: number
    limits?: { maxConcurrent?: number, maxConcurrentPerPeer?: number, perPeerPerMinute?: number, burst?: number }
  }
}

export class ConfigError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ConfigError'
  }
}

export function defaultConfig (env: NodeJS.ProcessEnv = process.env): Config {
  return {
    dataDir: defaultDataDir(env),
    http: {
      host: DEFAULT_HTTP_HOST,
      port: DEFAULT_HTTP_PORT,
      trustProxy: false,
      rateLimitPerMinute: RATE_LIMIT_REQUESTS_PER_WINDOW * 60_000 / RATE_LIMIT_WINDOW_MS,
      rateLimitBurst: RATE_LIMIT_BURST,
      probesAccess: 'loopback'
    },
    logLevel: 'info',
    testIdentifiers: [],
    ipfs: { backend: 'embedded', listen: [...DEFAULT_LISTEN], announce: [], bootstrap: [], network: 'local' },
    cache: { maxIdentities: DEFAULT_MAX_IDENTITIES, expiredGraceMs: DEFAULT_EXPIRED_GRACE_MS, keepResolved: false, keeperIntervalMs: DEFAULT_KEEPER_INTERVAL_MS },
    auth: { requirePeerProof: false, autoAuthenticate: false, stepTimeoutMs: STEP_TIMEOUT_MS, limits: { ...DEFAULT_DIDAUTH_LIMITS } }
  }
}

/** Reads `IPIDD_*` variables. */
export function configFromEnv (env: NodeJS.ProcessEnv): ConfigInput {
  const input: ConfigInput = {}
  if (env.IPIDD_DATA !== undefined && env.IPIDD_DATA !== '') input.dataDir = env.IPIDD_DATA
  if (env.IPIDD_HTTP_HOST !== undefined && env.IPIDD_HTTP_HOST !== '') input.http = { ...input.http, host: env.IPIDD_HTTP_HOST }
  if (env.IPIDD_HTTP_PORT !== undefined && env.IPIDD_HTTP_PORT !== '') input.http = { ...input.http, port: parsePort(env.IPIDD_HTTP_PORT, 'IPIDD_HTTP_PORT') }
  if (nonEmpty(env.IPIDD_TRUST_PROXY)) input.http = { ...input.http, trustProxy: parseTrustProxy(env.IPIDD_TRUST_PROXY, 'IPIDD_TRUST_PROXY') }
  if (nonEmpty(env.IPIDD_TLS_CERT)) input.http = { ...input.http, tlsCertFile: env.IPIDD_TLS_CERT }
  if (nonEmpty(env.IPIDD_TLS_KEY)) input.http = { ...input.http, tlsKeyFile: env.IPIDD_TLS_KEY }
  if (nonEmpty(env.IPIDD_RATE_LIMIT)) input.http = { ...input.http, rateLimitPerMinute: parseCount(env.IPIDD_RATE_LIMIT, 'IPIDD_RATE_LIMIT') }
  if (nonEmpty(env.IPIDD_PROBES_ACCESS)) input.http = { ...input.http, probesAccess: env.IPIDD_PROBES_ACCESS }
  if (nonEmpty(env.IPIDD_PROBES_PORT)) input.http = { ...input.http, probesPort: parsePort(env.IPIDD_PROBES_PORT, 'IPIDD_PROBES_PORT') }
  if (nonEmpty(env.IPIDD_PROBES_HOST)) input.http = { ...input.http, probesHost: env.IPIDD_PROBES_HOST }
  if (env.IPIDD_LOG_LEVEL !== undefined && env.IPIDD_LOG_LEVEL !== '') input.logLevel = env.IPIDD_LOG_LEVEL
  if (nonEmpty(env.IPIDD_TEST_IDENTIFIERS)) input.testIdentifiers = list(env.IPIDD_TEST_IDENTIFIERS)
  const ipfs: NonNullable<ConfigInput['ipfs']> = {}
  if (nonEmpty(env.IPIDD_KUBO_URL)) { ipfs.backend = 'kubo'; ipfs.kuboUrl = env.IPIDD_KUBO_URL }
  if (nonEmpty(env.IPIDD_LISTEN)) ipfs.listen = list(env.IPIDD_LISTEN)
  if (nonEmpty(env.IPIDD_ANNOUNCE)) ipfs.announce = list(env.IPIDD_ANNOUNCE)
  if (nonEmpty(env.IPIDD_BOOTSTRAP)) ipfs.bootstrap = list(env.IPIDD_BOOTSTRAP)
  if (nonEmpty(env.IPIDD_NETWORK)) ipfs.network = env.IPIDD_NETWORK
  if (Object.keys(ipfs).length > 0) input.ipfs = ipfs
  const cache: NonNullable<ConfigInput['cache']> = {}
  if (nonEmpty(env.IPIDD_CACHE_URL)) cache.url = env.IPIDD_CACHE_URL
  if (nonEmpty(env.IPIDD_CACHE_MAX)) cache.maxIdentities = parseCount(env.IPIDD_CACHE_MAX, 'IPIDD_CACHE_MAX')
  if (nonEmpty(env.IPIDD_KEEP_RESOLVED)) cache.keepResolved = parseBoolean(env.IPIDD_KEEP_RESOLVED, 'IPIDD_KEEP_RESOLVED')
  if (Object.keys(cache).length > 0) input.cache = cache
  const auth: NonNullable<ConfigInput['auth']> = {}
  if (nonEmpty(env.IPIDD_AUTH_IDENTITY)) auth.identity = env.IPIDD_AUTH_IDENTITY
  if (nonEmpty(env.IPIDD_AUTH_REQUIRE_PROOF)) auth.requirePeerProof = parseBoolean(env.IPIDD_AUTH_REQUIRE_PROOF, 'IPIDD_AUTH_REQUIRE_PROOF')
  if (nonEmpty(env.IPIDD_AUTH_AUTO)) auth.autoAuthenticate = parseBoolean(env.IPIDD_AUTH_AUTO, 'IPIDD_AUTH_AUTO')
  if (Object.keys(auth).length > 0) input.auth = auth
  return input
}

function isIpidDid (text: string): boolean {
  try {
    parseDid(text)
    return true
  } catch {
    return false
  }
}

function nonEmpty (value: string | undefined): value is string {
  return value !== undefined && value !== ''
}

/** Comma- or whitespace-separated list. */
export function list (value: string): string[] {
  return value.split(/[\s,]+/).filter(v => v !== '')
}

export function parseTrustProxy (text: string, where: string): false | number | string[] {
  if (/^(0|false|no|off)$/i.test(text)) return false
  if (/^\d{1,2}$/.test(text)) return Number(text)
  if (/^(true|yes|on)$/i.test(text)) throw new ConfigError(`${where}: trusting every proxy lets any client choose its address; give a hop count or the proxies' addresses`)
  return list(text)
}

export function parseCount (text: string, where: string): number {
  if (!/^\d{1,12}$/.test(text)) throw new ConfigError(`${where}: "${text}" is not a whole number`)
  return Number(text)
}

export function parseBoolean (text: string, where: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true
  if (/^(0|false|no|off)$/i.test(text)) return false
  throw new ConfigError(`${where}: "${text}" is not true or false`)
}

export function parsePort (text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new ConfigError(`${where}: "${text}" is not a port number`)
  return Number(text)
}

/** Merges the layers in order and validates the result. Throws `ConfigError` naming what is wrong. */
export function mergeConfig (base: Config, ...layers: ConfigInput[]): Config {
  let merged: Record<string, unknown> = structuredClone(base)
  for (const layer of layers) {
    merged = {
      ...merged,
      ...layer,
      http: { ...(merged.http as object), ...(layer.http ?? {}) },
      ipfs: { ...(merged.ipfs as object), ...(layer.ipfs ?? {}) },
      cache: { ...(merged.cache as object), ...(layer.cache ?? {}) },
      auth: {
        ...(merged.auth as object),
        ...(layer.auth ?? {}),
        limits: { ...(merged.auth as { limits?: object } | undefined)?.limits, ...(layer.auth?.limits ?? {}) }
      }
    }
  }
  const parsed = configSchema.safeParse(merged)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ConfigError(`invalid configuration at "${issue?.path.join('.') ?? ''}": ${issue?.message ?? 'invalid'}`)
  }
  const { http } = parsed.data
  return {
    ...parsed.data,
    dataDir: resolve(parsed.data.dataDir),
    testIdentifiers: [...new Set(parsed.data.testIdentifiers)],
    http: {
      ...http,
      ...(http.tlsCertFile === undefined ? {} : { tlsCertFile: resolve(http.tlsCertFile) }),
      ...(http.tlsKeyFile === undefined ? {} : { tlsKeyFile: resolve(http.tlsKeyFile) })
    }
  }
}

export function readConfigFile (path: string): ConfigInput {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (text.length > MAX_CONFIG_FILE_BYTES) throw new ConfigError(`config file ${path} is larger than ${MAX_CONFIG_FILE_BYTES} bytes`)
  try {
    return JSON.parse(text) as ConfigInput
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

export interface LoadOptions {
  flags?: ConfigInput
  /** Explicit config file (`--config` or `IPIDD_CONFIG`); otherwise `<dataDir>/config.json` when it exists. */
  configFile?: string
  env?: NodeJS.ProcessEnv
  fileExists?: (path: string) => boolean
}

export function loadConfig (options: LoadOptions = {}): Config {
  const env = options.env ?? process.env
  const flags = options.flags ?? {}
  const fromEnv = configFromEnv(env)
  const base = defaultConfig(env)
  const explicit = options.configFile ?? (env.IPIDD_CONFIG === '' ? undefined : env.IPIDD_CONFIG)
  const dataDir = flags.dataDir ?? fromEnv.dataDir ?? base.dataDir
  const implicit = join(dataDir, CONFIG_FILE_NAME)
  const file = explicit !== undefined
    ? readConfigFile(explicit)
    : (options.fileExists?.(implicit) ?? false) ? readConfigFile(implicit) : {}
  return mergeConfig(base, file, fromEnv, flags)
}
