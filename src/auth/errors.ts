/**
 * DIDAuth failures: one error class, `DidAuthError`, with a stable `reason` from a closed list (spec/didauth.md
 * §7). Messages name what was wrong with the peer's input; they never carry a private key, a passphrase, a
 * nonce or a whole proof.
 */

/** Every reason a handshake can fail with, as spec/didauth.md §7 lists them. */
export const DIDAUTH_REASONS = [
  // framing and messages
  'bad_message', 'oversized_message', 'truncated_message', 'stream_closed', 'timeout', 'unsupported_version',
  'protocol_not_supported',
  // a nonce this side issued, sent back to it (a reflection attempt)
  'reflected_nonce',
  // limits
  'rate_limited', 'too_many_handshakes', 'busy',
  // what a side requires
  'proof_required',
  // the proof
  'bad_proof', 'replayed_proof', 'wrong_issuer', 'wrong_audience', 'wrong_peer', 'wrong_role', 'expired_proof', 'proof_not_yet_valid',
  'wrong_nonce', 'expired_nonce', 'unresolvable', 'deactivated', 'not_authentication_key', 'bad_signature',
  // local conditions (never sent to a peer)
  'bad_address', 'unreachable', 'identity_locked', 'stopped', 'internal_error'
] as const
export type DidAuthReason = typeof DIDAUTH_REASONS[number]

const KNOWN = new Set<string>(DIDAUTH_REASONS)

export function isDidAuthReason (value: unknown): value is DidAuthReason {
  return typeof value === 'string' && KNOWN.has(value)
}

export class DidAuthError extends Error {
  /** The stable reason; for a refusal the peer reported (`remote`), the peer's reason as it sent it. */
  readonly reason: string
  /** True when the peer refused us (its `outcome` message said so); false when this side found the fault. */
  readonly remote: boolean

  constructor (reason: DidAuthReason | string, message: string, options: ErrorOptions & { remote?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DidAuthError'
    this.reason = reason
    this.remote = options.remote ?? false
  }
}

/**
 * Any thrown value as a DidAuthError: unexpected failures become `internal_error`. Their detail is kept as the
 * `cause` (for the log, `describeCause`), never put in the message, which may reach the peer.
 */
export function asDidAuthError (err: unknown): DidAuthError {
  if (err instanceof DidAuthError) return err
  return new DidAuthError('internal_error', 'the handshake failed unexpectedly', { cause: err })
}

/** Longest description of an internal error's cause that is logged. */
export const MAX_LOGGED_CAUSE_CHARS = 500

/**
 * What went wrong inside an `internal_error`, for the debug log: the cause's name and message (or the error's own
 * message when it has no cause), cut to MAX_LOGGED_CAUSE_CHARS, with anything shaped like a proof (a JWT), a nonce
 * (43 base64url characters) or raw key material (64+ hex digits) blanked out should a message ever carry one.
 */
export function describeCause (failure: DidAuthError): string {
  const cause = failure.cause
  const text = cause === undefined
    ? failure.message
    : cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
  return text
    .replace(/eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)*/g, '[jwt]')
    .replace(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, '[nonce]')
    .replace(/(?<![0-9a-fA-F])[0-9a-fA-F]{64,}(?![0-9a-fA-F])/g, '[hex]')
    .slice(0, MAX_LOGGED_CAUSE_CHARS)
}
