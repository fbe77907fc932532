/**
 * The did-resolver plugin: `getResolver(resolver)` returns `{ ipid: resolve }`, usable exactly like
 * key-did-resolver — `new Resolver(getResolver(ipidResolver))` — so did-jwt's `verifyJWT` works with did:ipid.
 */
import type { DidResolutionResult, ResolveOptions } from './result.ts'
import type { DIDResolutionOptions, DIDResolutionResult, DIDResolver, ParsedDID, Resolvable } from 'did-resolver'

/** Anything that resolves did:ipid DIDs: the in-process Resolver, or a client of a remote ipidd. */
export interface IpidResolvable {
  resolve: (did: string, options?: ResolveOptions) => Promise<DidResolutionResult>
}

export function getResolver (resolver: IpidResolvable): { ipid: DIDResolver } {
  const ipid: DIDResolver = async (did: string, parsed: ParsedDID, _resolver: Resolvable, options: DIDResolutionOptions): Promise<DIDResolutionResult> => {
    // A DID URL's query (`?versionTime=…`, `?versionId=…`) selects a version as the options do.
    const query = new URLSearchParams(parsed.query ?? '')
    const versionId = typeof options.versionId === 'string' ? options.versionId : query.get('versionId') ?? undefined
    const versionTime = typeof options.versionTime === 'string' ? options.versionTime : query.get('versionTime') ?? undefined
    const result: DidResolutionResult = await resolver.resolve(did, {
      ...(versionId === undefined ? {} : { versionId }),
      ...(versionTime === undefined ? {} : { versionTime }),
      ...(options.noCache === true ? { noCache: true } : {})
    })
    return result as unknown as DIDResolutionResult
  }
  return { ipid }
}
