/**
 * Structured logs (pino, JSON lines on stderr). Secrets are redacted by key name wherever they appear, as a
 * second line of defence: code never passes key material or passphrases to the logger in the first place.
 */
import { pino } from 'pino'
import type { Logger } from 'pino'

export type { Logger }

export const REDACTED_KEYS = ['privateKey', 'passphrase', 'password', 'secret', 'token', 'authorization', 'seed']

export function createLogger (level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  const paths = REDACTED_KEYS.flatMap(k => [k, `*.${k}`, `*.*.${k}`])
  return pino({ level, base: { service: 'ipidd' }, redact: { paths, censor: '[redacted]' } }, destination as never)
}

/**
 * The logger of the one-line-per-request access log. Its lines are built field by field from method, path,
 * query option names, status and timing — never headers, bodies or query values — so they skip the redaction
 * pass, which costs more than the rest of a warm resolve.
 */
export function createAccessLogger (level: string, destination?: NodeJS.WritableStream | string | number): Logger {
  if (destination !== undefined && typeof destination === 'object') return pino({ level, base: { service: 'ipidd' } }, destination as never)
  // Buffered: one write per ACCESS_LOG_BUFFER_BYTES rather than one per request; flushed at exit.
  const stream = pino.destination({ dest: destination ?? 2, sync: false, minLength: ACCESS_LOG_BUFFER_BYTES })
  process.once('exit', () => { try { stream.flushSync() } catch {} })
  return pino({ level, base: { service: 'ipidd' } }, stream)
}

/** Bytes of access-log lines gathered before one write. */
export const ACCESS_LOG_BUFFER_BYTES = 4096
