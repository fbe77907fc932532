/**
 * How `ipid` reaches a daemon, and its clients of the daemon's HTTP APIs.
 *
 * Which daemon: `--api URL`, else `$IPIDD_API`, else the URL the daemon running on the data directory wrote to
 * `<data-dir>/api.url` (whatever port it got), else the configured HTTP address (`loadConfig`: config file,
 * `IPIDD_HTTP_*`). The data directory is `--data-dir`, else `$IPIDD_DATA`, else `~/.ipidd`; the admin token is
 * read from `<data-dir>/admin.token`, never created here.
 *
 * The admin API answers on loopback only, and its token and the passphrases sent to it would cross the network in
 * the clear over http: an admin request to any other host is refused here, before the token is read (exit 2).
 * The public API (`resolve`, `history` with --api) may be anywhere.
 *
 * Failures become `CliError`s: a refused connection is `UnreachableError` (exit 3); a connection that broke after
 * the request was sent is `answer_lost` (exit 1: the daemon may have applied it); an admin problem document
 * maps by its `reason` to a one-line message that says what to do next.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isLoopbackAddress } from '../http/loopback.ts'
import { ADMIN_TOKEN_FILE, ADMIN_URL_FILE, dataDirOf } from '../shared-constants.ts'
import { CliError, EXIT_FAILED, EXIT_USAGE, FailedError, UnreachableError, UsageError, oneLine } from './errors.ts'

/** Reads answer at once; changes unlock keys (scrypt, about a second each) and publish to the network. */
export const READ_TIMEOUT_MS = 30_000
export const CHANGE_TIMEOUT_MS = 120_000
/** Largest answer read from a daemon (a history page, a backup). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024

/** Connection failures that mean "nobody answers there": the request never reached a daemon. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT'])
/**
 * Failures of a connection that was open: the request was sent and the daemon went away (or reset the
 * connection) before its answer arrived. The daemon may have acted on it — a change may be applied.
 */
const LOST_ANSWER_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

export interface Target {
  /** Base URL, without a trailing slash. */
  url: string
  /** Where the URL came from, for messages. */
  source: 'flag' | 'env' | 'data directory' | 'config'
  dataDir: string
}

export interface TargetOptions {
  api?: string
  dataDir?: string
  env?: NodeJS.ProcessEnv
}

/** Which daemon to talk to (see the module comment). */
export async function findDaemon (options: TargetOptions = {}): Promise<Target> {
  const env = options.env ?? process.env
  const dataDir = dataDirOf(options.dataDir, env)
  if (options.api !== undefined) return { url: checkUrl(options.api, '--api'), source: 'flag', dataDir }
  if (env.IPIDD_API !== undefined && env.IPIDD_API !== '') return { url: checkUrl(env.IPIDD_API, 'IPIDD_API'), source: 'env', dataDir }
  const urlFile = join(dataDir, ADMIN_URL_FILE)
  if (existsSync(urlFile)) {
    const written = readFileSync(urlFile, 'utf8').trim()
    try {
      return { url: reachable(checkUrl(written, urlFile)), source: 'data directory', dataDir }
    } catch {}
  }
  const { loadConfig } = await import('../config.ts')
  const config = loadConfig({ env, flags: { dataDir }, fileExists: existsSync })
  const scheme = config.http.tlsCertFile === undefined ? 'http' : 'https'
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host
  return { url: reachable(`${scheme}://${host}:${config.http.port}`), source: 'config', dataDir }
}

function checkUrl (text: string, where: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new CliError(EXIT_USAGE, 'bad_api_url', `${where}: "${text}" is not a URL; give one such as http://127.0.0.1:8080`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(EXIT_USAGE, 'bad_api_url', `${where}: "${text}" is not an http(s) URL`)
  return url.toString().replace(/\/+$/, '')
}

/** A daemon listening on every address is reached on loopback. */
function reachable (url: string): string {
  return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:')
}

/**
 * Whether a URL names this machine: `localhost`, or an address the daemon's admin API takes as loopback
 * (src/http/loopback.ts: 127.0.0.0/8, ::1, IPv4-mapped 127.x, which the URL parser writes `::ffff:7f00:1`).
 */
export function isLoopbackUrl (url: string): boolean {
  let host: string
  try {
    host = new URL(url).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  } catch {
    return false
  }
  return host === 'localhost' || host === 'localhost.' || isLoopbackAddress(host)
}

/** A daemon's answer: status and parsed JSON body (undefined when empty or not JSON). */
export interface Answer<T = unknown> {
  status: number
  body: T
  contentType: string
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: unknown
  timeoutMs?: number
}

/** One HTTP request to a daemon; connection failures are `UnreachableError`, timeouts `FailedError`. */
export async function request<T = unknown> (target: Target, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
  const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(target.url + path, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(timeoutMs)
    })
  } catch (err) {
    throw connectionError(err, target, timeoutMs)
  }
  let text: string
  try {
    text = await response.text()
  } catch (err) {
    throw connectionError(err, target, timeoutMs)
  }
  if (text.length > MAX_ANSWER_BYTES) throw new FailedError('answer_too_large', `the daemon at ${target.url} sent an answer larger than ${MAX_ANSWER_BYTES} bytes`)
  let body: unknown
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status: response.status, body: body as T, contentType: response.headers.get('content-type') ?? '' }
}

function connectionError (err: unknown, target: Target, timeoutMs: number): CliError {
  const e = err as { name?: string, cause?: { code?: string, name?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new FailedError('timeout', `the daemon at ${target.url} did not answer within ${Math.round(timeoutMs / 1000)} s: check \`ipid status\` and the daemon's log`, { cause: err })
  }
  const code = e.cause?.code ?? ''
  if (LOST_ANSWER_CODES.has(code)) {
    return new FailedError('answer_lost', `the daemon at ${target.url} got the request but its answer was lost (${code}): it may have acted on it — check with \`ipid show\` (and \`ipid status\`) before trying again`, { cause: err })
  }
  if (UNREACHABLE_CODES.has(code) || e.name === 'TypeError') {
    const how = target.source === 'flag' ? 'check --api' : target.source === 'env' ? 'check IPIDD_API' : 'start it with `ipid daemon` or pass --api'
    return new UnreachableError('daemon_unreachable', `daemon unreachable at ${target.url}${code === '' ? '' : ` (${code})`}: ${how}`, { cause: err })
  }
  return new FailedError('request_failed', `the request to ${target.url} failed: ${(err as Error).message}`, { cause: err })
}

/** An admin API problem document. */
export interface Problem {
  status?: number
  detail?: string
  reason?: string
  code?: string
}

/** The admin API of one daemon, with the token of its data directory. */
export class AdminClient {
  readonly target: Target
  private token?: string

  constructor (target: Target) {
    this.target = target
  }

  async get<T> (path: string): Promise<T> {
    return this.call<T>('GET', path)
  }

  /** A request; a 2xx answer's body, or the problem turned into a `CliError`. */
  async call<T> (method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    const answer = await this.send<T>(method, path, body, timeoutMs)
    if (answer.status >= 200 && answer.status < 300) return answer.body
    throw problemError(answer.status, answer.body as Problem | undefined, this.target)
  }

  /** A request whose every answer the caller handles. */
  async send<T> (method: string, path: string, body?: unknown, timeoutMs?: number): Promise<Answer<T>> {
    if (!isLoopbackUrl(this.target.url)) {
      const where = this.target.source === 'flag' ? '--api' : this.target.source === 'env' ? 'IPIDD_API' : 'the daemon\'s URL'
      throw new UsageError('admin_not_loopback', `${where} ${this.target.url} is not a loopback address: ipid sends the admin token and passphrases to loopback only (the admin API answers nowhere else); run ipid on the daemon's machine (--api elsewhere is for resolve and history)`)
    }
    const token = this.readToken()
    return request<T>(this.target, `/admin/v1${path}`, { method, headers: { authorization: `Bearer ${token}` }, body, ...(timeoutMs === undefined ? {} : { timeoutMs }) })
  }

  private readToken (): string {
    if (this.token !== undefined) return this.token
    const path = join(this.target.dataDir, ADMIN_TOKEN_FILE)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UnreachableError('no_token', `no daemon has run with the data directory ${this.target.dataDir} (no ${ADMIN_TOKEN_FILE}): start one with \`ipid daemon --data-dir ${this.target.dataDir}\`, or pass the --data-dir of yours`)
      }
      throw new FailedError('token_unreadable', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    this.token = text.trim()
    return this.token
  }
}

/** Next steps for the admin API's stable reasons. */
const NEXT_STEP: Readonly<Record<string, string>> = {
  wrong_passphrase: 'try again with the passphrase chosen at `ipid init`',
  unknown_identity: '`ipid ls` lists the identities this daemon holds',
  exists: 'choose another name',
  weak_passphrase: 'choose a longer one',
  update_key_required: 'pass --update-key FILE (the file `ipid keys cold` wrote)',
  wrong_update_key: 'pass the latest cold key file (each change replaces it)',
  update_keys_held: 'drop --update-key',
  cold: 'changes take --update-key FILE',
  unknown_key: '`ipid show` lists the keys',
  wrong_purpose: '`ipid show` lists the keys and what each is for',
  unknown_service: '`ipid show` lists the services',
  not_pinned: '`ipid pins` lists the pins',
  own_identity: 'own identities are always kept',
  bad_backup: 'give a file written by `ipid keys export`'
}

/** A problem document from the admin API as one line with the next step, and its exit code. */
export function problemError (status: number, problem: Problem | undefined, target: Target): CliError {
  const error = describeProblem(status, problem, target)
  error.httpStatus = status
  return error
}

function describeProblem (status: number, problem: Problem | undefined, target: Target): CliError {
  const reason = problem?.reason ?? `http_${status}`
  const detail = problem?.detail ?? `HTTP ${status}`
  if (status === 401) {
    return new CliError(EXIT_FAILED, 'unauthorized', `the daemon at ${target.url} refused the admin token of ${target.dataDir}: pass the --data-dir of that daemon, or the --api of the one that data directory belongs to`)
  }
  if (status === 403 && reason === 'not_loopback') {
    return new CliError(EXIT_FAILED, reason, `the daemon at ${target.url} answers its admin API on loopback only: run ipid on the daemon's machine`)
  }
  if (status === 404 && reason === 'not_found') {
    return new CliError(EXIT_FAILED, reason, `the daemon at ${target.url} does not offer this request: is it an older ipidd?`)
  }
  if (status === 429) return new CliError(EXIT_FAILED, 'rate_limited', `the daemon at ${target.url} is rate limiting this client: try again in a minute`)
  const next = NEXT_STEP[reason]
  const exitCode = status === 400 || status === 413 ? EXIT_USAGE : EXIT_FAILED
  return new CliError(exitCode, reason, oneLine(next === undefined ? detail : `${detail}: ${next}`))
}
