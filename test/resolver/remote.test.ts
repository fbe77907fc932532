/**
 * getResolver() against a remote ipidd over HTTP: a real daemon (embedded node, HTTP on 127.0.0.1) holds an
 * identity; did-resolver + did-jwt in this process verify a JWT through the remote resolver.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createJWT, EdDSASigner, verifyJWT } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { openKey, readKeyFile } from '../../src/identity/keystore.ts'
import { createLogger } from '../../src/log.ts'
import { getResolver } from '../../src/resolver/driver.ts'
import { remoteResolver } from '../../src/resolver/remote.ts'
import type { Daemon } from '../../src/daemon.ts'

let daemon: Daemon
let dataDir: string
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'ipidd-remote-'))
  daemon = await startDaemon(loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } }), { logger: createLogger('silent') })
})
afterAll(async () => { await daemon.stop() })

describe('remote resolution', () => {
  it('resolves through the daemon\'s HTTP API and verifies a JWT with did-jwt', async () => {
    const PASS = 'remote test passphrase'
    // Created through the daemon's own identities: the new record goes into its cache, so a daemon with no
    // peers at all answers its own DID at once.
    const erin = await daemon.identities.create({ name: 'erin', passphrase: PASS })
    const authKey = await openKey(readKeyFile(join(dataDir, 'identities', 'erin', 'keys', 'auth-1.key')), PASS)

    const remote = remoteResolver(daemon.httpUrl)
    const result = await remote.resolve(erin.did)
    expect(result.didDocumentMetadata.versionId).toBe(erin.versionId)

    const jwt = await createJWT({ aud: 'did:example:app' }, { issuer: erin.did, signer: EdDSASigner(authKey.raw) }, { alg: 'EdDSA' })
    const verified = await verifyJWT(jwt, { resolver: new DidResolver(getResolver(remote)), audience: 'did:example:app', proofPurpose: 'authentication' })
    expect(verified.issuer).toBe(erin.did)
  })

  it('answers errors with their HTTP status and the resolution result', async () => {
    const invalid = await fetch(`${daemon.httpUrl}/1.0/identifiers/${encodeURIComponent('did:ipid:nope!')}`)
    expect(invalid.status).toBe(400)
    expect(((await invalid.json()) as { didResolutionMetadata: { error: unknown } }).didResolutionMetadata.error)
      .toMatchObject({ type: 'https://www.w3.org/ns/did#INVALID_DID', title: 'Invalid DID' })
    // The remote client turns the problem object back into the in-process shape.
    expect((await remoteResolver(daemon.httpUrl).resolve('did:ipid:nope!')).didResolutionMetadata).toMatchObject({ error: 'invalidDid', reason: expect.any(String) })
    const other = await fetch(`${daemon.httpUrl}/1.0/identifiers/${encodeURIComponent('did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK')}`)
    expect(other.status).toBe(501)
    const down = remoteResolver('http://127.0.0.1:1')
    expect((await down.resolve('did:ipid:k51qzi5uqu5dlirnbfg8h195zcpqysnz4koh98x96visbqyqyfnn963oupegmw')).didResolutionMetadata).toMatchObject({ error: 'internalError', reason: 'remote_unavailable' })
  })
})
