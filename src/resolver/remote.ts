/**
 * A client of a remote ipidd's resolution API (`GET /1.0/identifiers/{did}`), usable wherever the in-process
 * resolver is: `getResolver(remoteResolver('https://resolver.example'))`.
 */
import { IpidError } from '../errors.ts'
import { errorResult } from './result.ts'
import { fromWireResult } from './wire.ts'
import type { DidResolutionResult, ResolveOptions } from './result.ts'

/** How long one remote resolution may take, unless the caller gives a deadline. */
export const REMOTE_RESOLVE_TIMEOUT_MS = 15_000
/** Largest answer read from a remote resolver. */
export const MAX_REMOTE_RESPONSE_BYTES = 1024 * 1024

export function remoteResolver (baseUrl: string): { resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult> } {
  const base = baseUrl.replace(/\/+$/, '')
  return {
    async resolve (did, options = {}) {
      const query = new URLSearchParams()
      if (options.versionId !== undefined) query.set('versionId', options.versionId)
      if (options.versionTime !== undefined) query.set('versionTime', options.versionTime)
      if (options.noCache === true) query.set('noCache', 'true')
      const url = `${base}/1.0/identifiers/${encodeURIComponent(did)}${query.size > 0 ? `?${query.toString()}` : ''}`
      try {
        const response = await fetch(url, {
          headers: { accept: 'application/did-resolution' },
          signal: options.signal ?? AbortSignal.timeout(options.deadlineMs ?? REMOTE_RESOLVE_TIMEOUT_MS)
        })
        const text = await response.text()
        if (text.length > MAX_REMOTE_RESPONSE_BYTES) throw new Error('the answer is too large')
        const body = JSON.parse(text) as Partial<DidResolutionResult>
        if (body === null || typeof body !== 'object' || typeof body.didResolutionMetadata !== 'object') {
          throw new Error(`HTTP ${response.status} without a resolution result`)
        }
        return fromWireResult({ didDocument: body.didDocument ?? null, didResolutionMetadata: body.didResolutionMetadata ?? {}, didDocumentMetadata: body.didDocumentMetadata ?? {} })
      } catch (err) {
        return errorResult(new IpidError('internalError', 'remote_unavailable', `the remote resolver at ${base} did not answer: ${(err as Error).message}`))
      }
    }
  }
}
