/**
 * Acceptance (issue 3): daemons on 127.0.0.1 connected only to each other. A — a separate process — creates an
 * identity; C resolves it; A rotates its authentication key and C sees the new version within seconds, while
 * the old versionId still resolves with nextVersionId. A JWT signed with A's old key verifies (did-jwt + C's
 * resolver) before the rotation, fails after it, and verifies again against the old versionTime. A is killed (SIGKILL). C, and a node D started
 * afterwards that never saw A, still resolve A's DID.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { verifyJWT } from 'did-jwt'
import { Resolver as DidResolver } from 'did-resolver'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { createLogger } from '../../src/log.ts'
import { getResolver } from '../../src/resolver/driver.ts'
import { eventually } from '../helpers/network.ts'
import type { Daemon } from '../../src/daemon.ts'

const ownerScript = join(dirname(fileURLToPath(import.meta.url)), 'owner-process.ts')
const running: Daemon[] = []

async function daemon (bootstrap: string[] = []): Promise<Daemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-e2e-'))
  const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap } } })
  const started = await startDaemon(config, { logger: createLogger('silent') })
  for (const address of bootstrap) await started.node!.dial(address)
  running.push(started)
  return started
}

afterAll(async () => { await Promise.allSettled(running.map(async d => d.stop())) })

describe('owner goes offline', () => {
  it('A publishes and rotates from its own process; after kill -9, C and a new node D still resolve it', async () => {
    const b = await daemon()
    const c = await daemon(b.node!.multiaddrs())
    const owner = spawn(process.execPath, [ownerScript, mkdtempSync(join(tmpdir(), 'ipidd-e2e-owner-')), [...b.node!.multiaddrs(), ...c.node!.multiaddrs()].join(',')], { stdio: ['pipe', 'pipe', 'inherit'] })
    const lines = createInterface({ input: owner.stdout })[Symbol.asyncIterator]()
    const next = async (): Promise<Record<string, string>> => JSON.parse((await lines.next()).value as string) as Record<string, string>
    try {
      const created = await next()
      const did = created.did!

      const first = await c.resolver.resolve(did)
      expect(first.didResolutionMetadata.error).toBeUndefined()
      expect(first.didDocumentMetadata.versionId).toBe(created.versionId)

      const viaC = new DidResolver(getResolver(c.resolver))
      const verify = async (jwt: string, resolver: DidResolver | { resolve: DidResolver['resolve'] } = viaC) =>
        verifyJWT(jwt, { resolver, audience: 'did:example:social-app', proofPurpose: 'authentication' })
      owner.stdin.write('jwt\n')
      const { jwt } = await next()
      await expect(verify(jwt!)).resolves.toMatchObject({ issuer: did })

      owner.stdin.write('rotate\n')
      const rotated = await next()
      await eventually(async () => {
        const r = await c.resolver.resolve(did)
        return r.didDocumentMetadata.versionId === rotated.versionId ? r : undefined
      }, 5000)
      const old = await c.resolver.resolve(did, { versionId: created.versionId })
      expect(old.didDocumentMetadata.nextVersionId).toBe(rotated.versionId)
      await expect(verify(jwt!)).rejects.toThrow()
      const oldTime = old.didDocumentMetadata.updated as string
      await expect(verify(jwt!, { resolve: async (d, o) => viaC.resolve(`${d}?versionTime=${oldTime}`, o) })).resolves.toMatchObject({ issuer: did })

      owner.kill('SIGKILL')
      await new Promise(resolve => owner.once('exit', resolve))

      const afterKill = await c.resolver.resolve(did, { noCache: true })
      expect(afterKill.didResolutionMetadata.error).toBeUndefined()
      expect(afterKill.didDocumentMetadata.versionId).toBe(rotated.versionId)

      const d = await daemon([...b.node!.multiaddrs(), ...c.node!.multiaddrs()])
      const fromD = await d.resolver.resolve(did)
      expect(fromD.didResolutionMetadata.error).toBeUndefined()
      expect(fromD.didDocumentMetadata.versionId).toBe(rotated.versionId)
      expect(fromD.didDocument?.authentication).toEqual([`${did}#auth-2`])
      // D verified the whole history, so the first version is addressable there too.
      expect((await d.resolver.resolve(did, { versionId: created.versionId })).didDocumentMetadata.nextVersionId).toBe(rotated.versionId)
    } finally {
      owner.kill('SIGKILL')
    }
  }, 60_000)
})
