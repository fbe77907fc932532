/**
 * The DID Resolution wire format of errors (W3C DID Resolution §11, §12.1): in process, `error` is a code
 * (`notFound`, as did-resolver and did-jwt expect) with `reason` and `message` beside it; on the wire it is an
 * RFC 9457 problem object (`type` `https://www.w3.org/ns/did#NOT_FOUND`, `title`, `detail`, and ipidd's
 * `reason`). Pure: the HTTP API converts on the way out, the remote client on the way in.
 */
import type { DidResolutionResult } from './result.ts'

export const DID_ERROR_TYPE_BASE = 'https://www.w3.org/ns/did#'
/** Title of each DID Resolution error type (§11), and its HTTP status (§12.1 table). */
export const DID_ERROR_TYPES: Readonly<Record<string, { title: string, status: number }>> = {
  INVALID_DID: { title: 'Invalid DID', status: 400 },
  INVALID_DID_URL: { title: 'Invalid DID URL', status: 400 },
  INVALID_OPTIONS: { title: 'Invalid resolution options', status: 400 },
  NOT_FOUND: { title: 'DID not found', status: 404 },
  REPRESENTATION_NOT_SUPPORTED: { title: 'Representation not supported', status: 406 },
  INVALID_DID_DOCUMENT: { title: 'Invalid DID document', status: 500 },
  METHOD_NOT_SUPPORTED: { title: 'DID method not supported', status: 501 },
  FEATURE_NOT_SUPPORTED: { title: 'Feature not supported', status: 501 },
  INTERNAL_ERROR: { title: 'Internal error', status: 500 }
}
/** did-resolver's code for an unknown method (see FIELD-NOTES): the same error as `methodNotSupported`. */
const ERROR_CODE_ALIASES: Readonly<Record<string, string>> = { unsupportedDidMethod: 'methodNotSupported' }

/** An RFC 9457 problem object as DID Resolution §11 profiles it, with ipidd's `reason` as an extension. */
export interface ResolutionProblem {
  type: string
  title: string
  detail: string
  reason?: string
  [extension: string]: unknown
}

/** HTTP status of a resolution result (DID Resolution §12.1): by error type, else 410 when deactivated, else 200. */
export function statusOf (result: DidResolutionResult): number {
  const error = result.didResolutionMetadata.error
  if (error === undefined) return result.didDocumentMetadata.deactivated === true ? 410 : 200
  return DID_ERROR_TYPES[errorTypeName(error)]?.status ?? 500
}

/** The `https://www.w3.org/ns/did#…` type of an error given as a code (`notFound`) or as a problem object. */
export function errorTypeOf (error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string') {
    const type = (error as { type: string }).type
    return /^[a-z][a-z0-9+.-]*:/i.test(type) ? type : DID_ERROR_TYPE_BASE + type
  }
  const code = typeof error === 'string' ? ERROR_CODE_ALIASES[error] ?? error : 'internalError'
  return DID_ERROR_TYPE_BASE + code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
}

/** The in-process code (`notFound`) of an error type (`https://www.w3.org/ns/did#NOT_FOUND`). */
export function errorCodeOf (type: string): string {
  const name = type.startsWith(DID_ERROR_TYPE_BASE) ? type.slice(DID_ERROR_TYPE_BASE.length) : type
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

/** An error as the problem object §11 asks for; `detail` is ipidd's message, `reason` its stable reason. */
export function problemOf (error: unknown, message?: unknown, reason?: unknown): ResolutionProblem {
  const type = errorTypeOf(error)
  const title = DID_ERROR_TYPES[errorTypeName(error)]?.title ?? 'Resolution failed'
  if (typeof error === 'object' && error !== null) {
    const given = error as Record<string, unknown>
    return { ...given, type, title: typeof given.title === 'string' ? given.title : title, detail: typeof given.detail === 'string' ? given.detail : title }
  }
  return { type, title, detail: typeof message === 'string' ? message : title, ...(typeof reason === 'string' ? { reason } : {}) }
}

/** The result as it goes on the wire: `error` becomes a problem object carrying `reason` and the message. */
export function toWireResult (result: DidResolutionResult): DidResolutionResult {
  const { error, reason, message, ...rest } = result.didResolutionMetadata
  if (error === undefined) return result
  return { ...result, didResolutionMetadata: { ...rest, error: problemOf(error, message, reason) } }
}

/** A result read from the wire, back in the in-process shape (`error` a code, `reason` and `message` beside it). */
export function fromWireResult (result: DidResolutionResult): DidResolutionResult {
  const { error, ...rest } = result.didResolutionMetadata
  if (typeof error !== 'object' || error === null) return result
  const problem = problemOf(error)
  return {
    ...result,
    didResolutionMetadata: { ...rest, error: errorCodeOf(problem.type), ...(typeof problem.reason === 'string' ? { reason: problem.reason } : {}), message: problem.detail }
  }
}

export function errorTypeName (error: unknown): string {
  const type = errorTypeOf(error)
  return type.startsWith(DID_ERROR_TYPE_BASE) ? type.slice(DID_ERROR_TYPE_BASE.length) : type
}
