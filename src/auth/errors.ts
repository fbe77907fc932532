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
  // limits
  'rate_limited', 'too_many_handshakes', 'busy',
  // what a side requires
  'proof_required',
  // the proof
  'bad_proof', 'replayed_proof', 'wrong_issuer', 'wrong_audience', 'wrong_peer', 'expired_proof', 'proof_not_yet_valid',
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

/** Any thrown value as a DidAuthError: unexpected failures become `internal_error` without their detail. */
export function asDidAuthError (err: unknown): DidAuthError {
  if (err instanceof DidAuthError) return err
  return new DidAuthError('internal_error', 'the handshake failed unexpectedly', { cause: err })
}
