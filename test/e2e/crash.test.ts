/**
 * Acceptance (issue 4), restart: the real `ipid daemon` in a child process takes a burst of cache writes
 * (records PUT through the delegated routing API, each acknowledged with 200 only once stored) and is killed
 * with SIGKILL in the middle. Restarted on the same data directory, its SQLite store opens cleanly and holds
 * every record it acknowledged.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { parseDid } from '../../src/did/identifier.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import { createRecord, validateRecord } from '../../src/ipns/record.ts'
import { DAY_MS, buildChain, testIdentity } from '../helpers/fixtures.ts'
import type { ChildProcess } from 'node:child_process'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

const main = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.ts')
/** Identities written in the burst. */
const BURST = 120
const children: ChildProcess[] = []
let a: EmbeddedNode | undefined
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await a?.stop()
})

async function daemon (dataDir: string, bootstrap: string): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [main, 'daemon', '--data-dir', dataDir, '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootstrap, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString()
      const found = /HTTP\s+(http:\/\/\S+)/.exec(stdout)?.[1]
      if (found !== undefined && stdout.includes('ready')) resolve(found)
    })
    child.once('exit', code => { reject(new Error(`daemon exited with ${code}: ${stderr}`)) })
  })
  return { child, url }
}

describe('a daemon killed during a burst of cache writes', () => {
  it('keeps every acknowledged write, and its store opens cleanly', async () => {
    a = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.start()
    const base = 50_000 + Math.floor(Math.random() * 1_000_000)
    const writes = await Promise.all(Array.from({ length: BURST }, async (_, i) => {
      const id = await testIdentity(base + i * 8)
      const [v1] = await buildChain(id, 1, Date.now() - DAY_MS)
      await a!.putBlock(v1!.cid, v1!.bytes)
      const record = await createRecord({ privateKey: id.root, value: v1!.cid, sequence: 1n, validUntilMs: Date.now() + 7 * DAY_MS })
      return { name: parseDid(id.did), record: record.bytes }
    }))

    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-crash-'))
    const first = await daemon(dataDir, a.multiaddrs()[0]!)
    const acknowledged = new Set<string>()
    let killed = false
    const puts = writes.map(async ({ name, record }) => {
      const response = await fetch(`${first.url}/routing/v1/ipns/${name.id}`, {
        method: 'PUT', headers: { 'content-type': 'application/vnd.ipfs.ipns-record' }, body: record
      }).catch(() => undefined)
      if (response?.status === 200) {
        acknowledged.add(name.id)
        // Kill it in the middle of the burst, with writes still in flight.
        if (acknowledged.size === Math.floor(BURST / 3) && !killed) {
          killed = true
          first.child.kill('SIGKILL')
        }
      }
    })
    await Promise.all(puts)
    expect(killed).toBe(true)
    expect(acknowledged.size).toBeGreaterThanOrEqual(Math.floor(BURST / 3))
    expect(acknowledged.size).toBeLessThan(BURST)

    // Restarted on the same directory (its lock is stale): every acknowledged record is served from the cache.
    const second = await daemon(dataDir, a.multiaddrs()[0]!)
    for (const { name, record } of writes.filter(w => acknowledged.has(w.name.id))) {
      const response = await fetch(`${second.url}/routing/v1/ipns/${name.id}`, { headers: { accept: 'application/vnd.ipfs.ipns-record' } })
      expect(response.status).toBe(200)
      const held = new Uint8Array(await response.arrayBuffer())
      expect(held).toEqual(record)
      expect((await validateRecord(name, held, Date.now())).sequence).toBe(1n)
    }
    second.child.kill('SIGTERM')
  })
})
