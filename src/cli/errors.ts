/**
 * Exit codes and errors of `ipid`. Every failure reaches the person as one line on stderr — what happened, then
 * what to do next — and, with `--json`, as one JSON document on stdout (`{ "error": { exitCode, reason,
 * message } }`). Stack traces only with `--debug`.
 *
 * Exit codes (README, "The ipid command"):
 *   0  success
 *   1  the operation failed (wrong passphrase, unknown identity, not found, refused by the daemon …)
 *   2  usage error (unknown option, malformed DID, missing --update-key or confirmation, bad input)
 *   3  the daemon is unreachable (not running, wrong --api, no daemon ever ran with this data directory)
 */

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_UNREACHABLE = 3

/** A failure with its exit code, a stable `reason`, and the one-line message shown to the person. */
export class CliError extends Error {
  readonly exitCode: number
  readonly reason: string
  /** The daemon's HTTP status, when the daemon answered with this failure. */
  httpStatus?: number

  constructor (exitCode: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CliError'
    this.exitCode = exitCode
    this.reason = reason
  }
}

/** The command line asks for something impossible or incomplete (exit 2). */
export class UsageError extends CliError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super(EXIT_USAGE, reason, message, options)
    this.name = 'UsageError'
  }
}

/** No daemon answers where `ipid` looked for one (exit 3). */
export class UnreachableError extends CliError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super(EXIT_UNREACHABLE, reason, message, options)
    this.name = 'UnreachableError'
  }
}

/** The operation was tried and failed (exit 1). */
export class FailedError extends CliError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super(EXIT_FAILED, reason, message, options)
    this.name = 'FailedError'
  }
}

export interface Failure {
  exitCode: number
  reason: string
  /** One line, no trailing newline. */
  message: string
}

/**
 * What to tell the person about an error. Errors from other modules are recognised by their stable `name`
 * (importing their modules here would load half the daemon for every command).
 */
export function describeFailure (err: unknown): Failure {
  if (err instanceof CliError) return { exitCode: err.exitCode, reason: err.reason, message: oneLine(err.message) }
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown, message?: unknown, reason?: unknown }
  const message = typeof e.message === 'string' ? e.message : String(err)
  switch (e.name) {
    case 'ConfigError':
      return { exitCode: EXIT_USAGE, reason: 'invalid_config', message: oneLine(`${message}: fix the flag, IPIDD_* variable or config file`) }
    case 'DaemonStartError':
      return { exitCode: EXIT_FAILED, reason: 'daemon_start', message: oneLine(message) }
    case 'AdminTokenError':
      return { exitCode: EXIT_FAILED, reason: 'admin_token', message: oneLine(message) }
    case 'CacheStoreError':
      return { exitCode: EXIT_FAILED, reason: 'cache_store', message: oneLine(message) }
    case 'KeystoreError':
    case 'IdentityError':
    case 'OperationError':
    case 'EmbeddedNodeUnavailableError':
    case 'PeerKeyError':
      return { exitCode: EXIT_FAILED, reason: typeof e.reason === 'string' ? e.reason : 'failed', message: oneLine(message) }
    case 'InvalidDidError':
      return { exitCode: EXIT_USAGE, reason: typeof e.reason === 'string' ? e.reason : 'invalid_did', message: oneLine(message) }
  }
  return { exitCode: EXIT_FAILED, reason: 'unexpected', message: oneLine(`unexpected error: ${message}; run again with --debug for details`) }
}

/** Collapses any line breaks and runs of blanks: an error is one line. */
export function oneLine (text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}
