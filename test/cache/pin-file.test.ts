/**
 * pins.json, the source of truth for the operator's pins (a damaged one stops the real daemon process), and the
 * cache putting local pins back into a store that lost them (a real SQLite store; the Redis and PostgreSQL outages
 * are in test/e2e/store-outage.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ResolveCache } from '../../src/cache/cache.ts'
import { PINS_FILE_NAME, PinFile, PinFileError } from '../../src/cache/pin-file.ts'
import { SqliteStore } from '../../src/cache/sqlite-store.ts'
import { parseDid } from '../../src/did/identifier.ts'
import { writeFileAtomic } from '../../src/identity/keystore.ts'
import { spawnDaemon } from '../helpers/cli.ts'
import { testIdentity } from '../helpers/fixtures.ts'

const dirs: string[] = []
afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }) })
function dataDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-pins-'))
  dirs.push(dir)
  return dir
}

describe('pins.json', () => {
  it('is written atomically, owner-only, sorted, and read back by the next daemon', async () => {
    const dir = dataDir()
    const [a, b] = await Promise.all([testIdentity(901), testIdentity(902)])
    const ids = [parseDid(a.did).id, parseDid(b.did).id]
    const file = new PinFile(dir, writeFileAtomic)
    expect(file.load()).toBe(false)
    file.add(ids[1]!, ids[0]!)
    expect(statSync(join(dir, PINS_FILE_NAME)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(join(dir, PINS_FILE_NAME), 'utf8'))).toEqual({ v: 1, pins: [...ids].sort() })
    const again = new PinFile(dir, writeFileAtomic)
    expect(again.load()).toBe(true)
    expect(again.list().sort()).toEqual([...ids].sort())
    again.remove(ids[0]!)
    expect(new PinFile(dir, writeFileAtomic).load() && again.list()).toEqual([ids[1]])
  })

  it('refuses a file it cannot read instead of forgetting the pins (corrupt_pins_file)', () => {
    for (const text of ['{"v":1,"pins":', '{"v":2,"pins":[]}', '{"v":1,"pins":["12D3KooWnot-canonical"]}']) {
      const dir = dataDir()
      writeFileSync(join(dir, PINS_FILE_NAME), text)
      const failure = (() => { try { new PinFile(dir, writeFileAtomic).load() } catch (err) { return err } })()
      expect(failure).toBeInstanceOf(PinFileError)
      expect(failure).toMatchObject({ reason: 'corrupt_pins_file' })
    }
  })
})

describe('a daemon whose pins.json is damaged', () => {
  it('does not start (exit 1) rather than run without the pins, naming the file', { timeout: 60_000 }, async () => {
    const dir = dataDir()
    writeFileSync(join(dir, PINS_FILE_NAME), '{"v":1,"pins":["k51')
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir }
    for (const name of ['IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_CACHE_URL']) delete env[name]
    const daemon = spawnDaemon(['--data-dir', dir, '--log-level', 'warn'], { env })
    const code = await daemon.exited
    expect(code).toBe(1)
    expect(daemon.output().stderr).toContain(join(dir, PINS_FILE_NAME))
  })
})

describe('the cache and its local pins', () => {
  it('writes the local pins a store lost back into it, retries removals it did not take, and lists them with the store\'s others', async () => {
    const dir = dataDir()
    const store = new SqliteStore(join(dir, 'cache.sqlite'))
    const cache = new ResolveCache({ store, clock: () => 1_000 })
    await cache.start()
    try {
      cache.keepPins(() => [{ id: 'k51own', kind: 'own' }, { id: 'k51mine', kind: 'pinned' }])
      await store.setPin('k51other', 'pinned') // another daemon's, in a shared store
      await store.setPin('k51mine', 'own') // a wrong kind is corrected too
      expect(await cache.reassertPins()).toBe(2)
      expect(await store.pins()).toEqual([{ id: 'k51mine', kind: 'pinned' }, { id: 'k51other', kind: 'pinned' }, { id: 'k51own', kind: 'own' }])
      expect(await cache.reassertPins()).toBe(0)
      await store.setPin('k51own', undefined) // lost, as after FLUSHALL
      await cache.maintain()
      expect(await cache.pins()).toEqual([{ id: 'k51mine', kind: 'pinned' }, { id: 'k51other', kind: 'pinned' }, { id: 'k51own', kind: 'own' }])
      expect((await store.pins()).map(p => p.id)).toContain('k51own')

      // An unpin the store did not take (here: closed under the cache) is retried by the next round.
      await store.setPin('k51gone', 'pinned')
      await store.close()
      await expect(cache.unpin('k51gone')).rejects.toThrow(/not open/)
      await store.open()
      await cache.maintain()
      expect((await store.pins()).map(p => p.id)).not.toContain('k51gone')
    } finally {
      await cache.stop()
    }
  })
})
