/**
 * The shape of a DID resolution result and of a resolve call, and the error result: what the daemon's resolver,
 * the remote client and the app entry (`ipidd/resolver`) share. Import-free apart from the error class, so the
 * app entry bundles for browsers.
 */
import type { IpidError } from '../errors.ts'
import type { DidDocument } from '../did/document.ts'

export interface DidResolutionResult {
  '@context'?: string
  didDocument: DidDocument | null
  didResolutionMetadata: Record<string, unknown>
  didDocumentMetadata: Record<string, unknown>
}

export interface ResolveOptions {
  versionId?: string
  versionTime?: string
  /** Ask the network even when the last answer is still fresh. */
  noCache?: boolean
  deadlineMs?: number
  signal?: AbortSignal
}

/**
 * `didDocumentMetadata` as ipidd fills it (the result type keeps it open: other resolvers add their own). Times
 * are RFC 3339; every spelling of the DID resolves to the same identity, named by `canonicalId`.
 */
export interface DocumentMetadata {
  /** The version node's CID: what `versionId` selects. */
  versionId?: string
  created?: string
  updated?: string
  deactivated?: boolean
  /** The next version after the one served, when an earlier version was asked for. */
  nextVersionId?: string
  nextUpdate?: string
  canonicalId?: string
  equivalentId?: string[]
  /** A document published by an earlier IPID tool, normalised into a current one; what changed. */
  normalised?: boolean
  normalisationChanges?: string[]
  legacyPrevious?: string
  [member: string]: unknown
}

/** `didResolutionMetadata` as ipidd fills it: how fresh the answer is, or why there is none. */
export interface ResolutionMetadata {
  contentType?: string
  /** When the record served was last fetched from the network (or the cache). */
  retrieved?: string
  source?: string
  /** The network did not answer in time: this is the last verified version. */
  stale?: boolean
  /** The record is past its EOL, served within the grace period. */
  expired?: boolean
  recordExpires?: string
  /** The record's TTL in seconds. */
  recordTtl?: number
  /** Forks refused for this DID: evidence that its root key was misused. */
  forkEvidence?: unknown[]
  /** On failure: the DID Resolution error code (`notFound`, `invalidDid`, …), ipidd's stable reason, a message. */
  error?: string
  reason?: string
  message?: string
  [member: string]: unknown
}

/** The result of a failed resolution: no document, `error` the DID Resolution code, ipidd's `reason` beside it. */
export function errorResult (err: IpidError): DidResolutionResult {
  return {
    didDocument: null,
    didResolutionMetadata: { error: err.code, reason: err.reason, message: err.message },
    didDocumentMetadata: {}
  }
}
