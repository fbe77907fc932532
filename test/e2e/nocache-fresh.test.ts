/**
 * Issue 12, restarts: `?noCache=true` asks the network, and only an answer from a peer is fresh. The real
 * `ipid daemon` process resolves an identity held by an owner in another process (owner-process.ts), on
 * 127.0.0.1; then the owner stops answering — frozen with SIGSTOP (its connection stays open, nothing comes
 * back: a black hole), then killed (gone) — and a `noCache` resolve must say it is stale, with the time the
 * record really came from a peer, not "now" because the daemon found the record in its own DHT store.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { spawnDaemon } from '../helpers/cli.ts'
import { eventually } from '../helpers/network.ts'
import type { ChildProcess } from 'node:child_process'
import type { DaemonProcess } from '../helpers/cli.ts'

const ownerScript = join(dirname(fileURLToPath(import.meta.url)), 'owner-process.ts')
/** A resolve may wait on the network this long (the resolver's deadline) and then some, on a busy machine. */
const RESOLVE_WAIT_MS = 30_000

const children: ChildProcess[] = []
const daemons: DaemonProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) { child.kill('SIGCONT'); child.kill('SIGKILL') }
  for (const daemon of daemons.splice(0)) { daemon.child.kill('SIGKILL'); await daemon.exited }
})

interface Metadata { stale?: boolean, retrieved?: string, versionId?: string }

/** A resolve over HTTP: its status, and the resolution and document metadata together. */
async function resolve (url: string, did: string, query = ''): Promise<{ status: number, meta: Metadata }> {
  const response = await fetch(`${url}/1.0/identifiers/${encodeURIComponent(did)}${query}`, {
    headers: { accept: 'application/ld+json;profile="https://w3id.org/did-resolution"' },
    signal: AbortSignal.timeout(RESOLVE_WAIT_MS)
  })
  const body = await response.json() as { didResolutionMetadata?: Metadata, didDocumentMetadata?: Metadata }
  return { status: response.status, meta: { ...body.didResolutionMetadata, ...body.didDocumentMetadata } }
}

describe('noCache=true when no peer answers', () => {
  it('answers stale, with the time a peer last answered, when the only peer is frozen and when it is gone', async () => {
    const owner = spawn(process.execPath, [ownerScript, mkdtempSync(join(tmpdir(), 'ipidd-nocache-owner-')), ''], { stdio: ['pipe', 'pipe', 'inherit'] })
    children.push(owner)
    const lines = createInterface({ input: owner.stdout! })[Symbol.asyncIterator]()
    const created = JSON.parse((await lines.next()).value as string) as { did: string, versionId: string, multiaddrs: string[] }

    const daemon = spawnDaemon(['--data-dir', mkdtempSync(join(tmpdir(), 'ipidd-nocache-')), '--log-level', 'warn', '--bootstrap', created.multiaddrs[0]!])
    daemons.push(daemon)
    const url = await daemon.ready
    const fresh = await eventually(async () => {
      const r = await resolve(url, created.did, '?noCache=true')
      return r.status === 200 && r.meta.versionId === created.versionId ? r : undefined
    }, RESOLVE_WAIT_MS)
    expect(fresh.meta.stale).toBe(false)
    const retrieved = fresh.meta.retrieved!
    // retrieved has whole seconds: a later answer from a peer would show a later time.
    await new Promise(resolve => setTimeout(resolve, 1_500))

    owner.kill('SIGSTOP')
    const frozen = await resolve(url, created.did, '?noCache=true')
    expect(frozen.status).toBe(200)
    expect(frozen.meta).toMatchObject({ versionId: created.versionId, stale: true, retrieved })

    owner.kill('SIGKILL')
    await new Promise(resolve => owner.once('exit', resolve))
    const gone = await resolve(url, created.did, '?noCache=true')
    expect(gone.status).toBe(200)
    expect(gone.meta).toMatchObject({ versionId: created.versionId, stale: true, retrieved })
  }, 120_000)
})
