/**
 * Typed errors. Every error ipidd raises for bad input is an `IpidError` with:
 * - `code`: the DID Resolution error code the failure maps to (what a resolver reports);
 * - `reason`: a stable, machine-readable string naming the exact failure (what tests and vectors check).
 * Messages describe the input's problem and never include key material.
 */

/** DID Resolution error codes used by ipidd (W3C DID Resolution, did-resolver conventions). */
export type ResolutionErrorCode =
  | 'invalidDid'
  | 'invalidDidUrl'
  | 'invalidDidDocument'
  | 'invalidOptions'
  | 'notFound'
  | 'methodNotSupported'
  | 'representationNotSupported'
  | 'internalError'

export class IpidError extends Error {
  readonly code: ResolutionErrorCode
  readonly reason: string

  constructor (code: ResolutionErrorCode, reason: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'IpidError'
    this.code = code
    this.reason = reason
  }
}

/** The string is not a did:ipid DID (or DID URL) this implementation accepts. */
export class InvalidDidError extends IpidError {
  constructor (reason: string, message: string, code: 'invalidDid' | 'invalidDidUrl' | 'methodNotSupported' = 'invalidDid') {
    super(code, reason, message)
    this.name = 'InvalidDidError'
  }
}

/** A DID document breaks DID Core or ipidd's profile of it (including size and count limits). */
export class InvalidDocumentError extends IpidError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super('invalidDidDocument', reason, message, options)
    this.name = 'InvalidDocumentError'
  }
}

/** A version node cannot be decoded, or one of its own fields or its signature is wrong. */
export class InvalidVersionNodeError extends IpidError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super('invalidDidDocument', reason, message, options)
    this.name = 'InvalidVersionNodeError'
  }
}

/** Two version nodes do not form a valid link of a chain (sequence, times, signer, pre-rotation). */
export class InvalidChainError extends IpidError {
  constructor (reason: string, message: string) {
    super('invalidDidDocument', reason, message)
    this.name = 'InvalidChainError'
  }
}

/**
 * A new head does not validly extend the chain already verified for this DID: it diverges from it
 * (reason `fork`), or it links onto it with a version that breaks a chain rule (the reason of that rule,
 * e.g. `signer_not_authorised`). The verified chain stays in force; `knownHead` and `offeredHead` are the
 * two version ids, kept as evidence.
 */
export class ForkError extends IpidError {
  readonly knownHead: string
  readonly offeredHead: string

  constructor (reason: string, message: string, knownHead: string, offeredHead: string, options?: ErrorOptions) {
    super('invalidDidDocument', reason, message, options)
    this.name = 'ForkError'
    this.knownHead = knownHead
    this.offeredHead = offeredHead
  }
}

/**
 * An IPNS record is unusable (malformed, forged, expired, too large, wrong name). From a resolver's point of
 * view a DID whose only record is unusable has no record: the code is `notFound`, the reason says why.
 */
export class InvalidRecordError extends IpidError {
  constructor (reason: string, message: string, options?: ErrorOptions) {
    super('notFound', reason, message, options)
    this.name = 'InvalidRecordError'
  }
}

/**
 * A failed operation on local state (keystore, identities): a stable `reason`, no DID-resolution code, and a
 * message that names the problem without key material.
 */
export class OperationError extends Error {
  readonly reason: string

  constructor (reason: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'OperationError'
    this.reason = reason
  }
}
