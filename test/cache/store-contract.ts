/**
 * The CacheStore contract: SQLite, Redis and PostgreSQL each run these against a real server or file.
 * `open` returns a fresh, empty store (its own file, key prefix or tables) and may be called twice for the
 * same place (`reopen`), as a restarted daemon or a second daemon sharing the store would.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { CacheStoreError } from '../../src/cache/store.ts'
import type { CacheStore, StoredName } from '../../src/cache/store.ts'

export interface StoreFactory {
  /** A new, empty store place; `open()` on the returned opener gives a connected store for it. */
  fresh: () => Promise<{ open: () => Promise<CacheStore>, dispose?: () => Promise<void> }>
}

export function entry (id: string, sequence: number, chain: string[] = [`cid-${id}-${sequence}`]): StoredName {
  return {
    id,
    record: new Uint8Array(randomBytes(64 + sequence)),
    sequence: BigInt(sequence),
    chain,
    legacy: false,
    retrievedAtMs: 1_000 + sequence,
    forks: []
  }
}

export function storeContract (kind: string, factory: StoreFactory): void {
  describe(`CacheStore contract: ${kind}`, () => {
    const opened: CacheStore[] = []
    const disposers: Array<() => Promise<void>> = []
    const fresh = async (): Promise<{ store: CacheStore, reopen: () => Promise<CacheStore> }> => {
      const place = await factory.fresh()
      if (place.dispose !== undefined) disposers.push(place.dispose)
      const reopen = async (): Promise<CacheStore> => {
        const store = await place.open()
        opened.push(store)
        return store
      }
      return { store: await reopen(), reopen }
    }
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close()
      for (const dispose of disposers.splice(0)) await dispose()
    })

    it('answers undefined for a name it does not hold', async () => {
      const { store } = await fresh()
      expect(await store.get('k51missing')).toBeUndefined()
      expect(await store.count()).toBe(0)
    })

    it('stores an entry and reads it back exactly', async () => {
      const { store } = await fresh()
      const e = { ...entry('k51a', 3, ['c3', 'c2', 'c1']), forks: [{ reason: 'fork', knownHead: 'c3', offeredHead: 'x', detected: '2026-01-01T00:00:00Z', record: 'AAEC' }] }
      const token = await store.swap('k51a', undefined, e, 5)
      expect(token).toBeTypeOf('string')
      const read = await store.get('k51a')
      expect(read?.token).toBe(token)
      expect(read?.entry).toEqual(e)
      expect(await store.count()).toBe(1)
    })

    it('refuses an insert when the name is already held, and an update with a stale token', async () => {
      const { store } = await fresh()
      const first = await store.swap('k51b', undefined, entry('k51b', 1), 1)
      expect(await store.swap('k51b', undefined, entry('k51b', 9), 2)).toBeUndefined()
      const second = await store.swap('k51b', first, entry('k51b', 2), 3)
      expect(second).toBeTypeOf('string')
      expect(await store.swap('k51b', first, entry('k51b', 7), 4)).toBeUndefined()
      expect((await store.get('k51b'))?.entry?.sequence).toBe(2n)
    })

    it('lets exactly one of many racing swaps from one token win, across connections', async () => {
      const { store, reopen } = await fresh()
      const other = await reopen()
      const base = await store.swap('k51c', undefined, entry('k51c', 1), 1)
      const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
        (i % 2 === 0 ? store : other).swap('k51c', base, entry('k51c', 2 + i), 2)))
      const winners = results.flatMap((token, i) => token === undefined ? [] : [{ token, sequence: BigInt(2 + i) }])
      expect(winners).toHaveLength(1)
      const held = await other.get('k51c')
      expect(held?.token).toBe(winners[0]?.token)
      expect(held?.entry?.sequence).toBe(winners[0]?.sequence)
    })

    it('lets exactly one of many racing first inserts win', async () => {
      const { store, reopen } = await fresh()
      const other = await reopen()
      const results = await Promise.all(Array.from({ length: 10 }, async (_, i) =>
        (i % 2 === 0 ? store : other).swap('k51d', undefined, entry('k51d', i), 1)))
      expect(results.filter(t => t !== undefined)).toHaveLength(1)
    })

    it('keeps blocks by CID and answers undefined for unknown ones', async () => {
      const { store } = await fresh()
      const bytes = new Uint8Array(randomBytes(3000))
      await store.putBlocks([['bafyone', bytes], ['bafytwo', new Uint8Array([0, 1, 255])]])
      await store.putBlocks([['bafyone', bytes]]) // idempotent
      expect(await store.getBlock('bafyone')).toEqual(bytes)
      expect(await store.getBlock('bafytwo')).toEqual(new Uint8Array([0, 1, 255]))
      expect(await store.getBlock('bafynone')).toBeUndefined()
    })

    it('keeps pins, with their kind, and removes them', async () => {
      const { store } = await fresh()
      await store.setPin('k51p', 'pinned')
      await store.setPin('k51o', 'own')
      await store.setPin('k51p', 'own')
      expect(await store.pins()).toEqual([{ id: 'k51o', kind: 'own' }, { id: 'k51p', kind: 'own' }])
      await store.setPin('k51o', undefined)
      expect(await store.pins()).toEqual([{ id: 'k51p', kind: 'own' }])
    })

    it('orders names by last use, never moving a use time backwards', async () => {
      const { store } = await fresh()
      for (const [i, id] of ['k51x', 'k51y', 'k51z'].entries()) await store.swap(id, undefined, entry(id, 1), 100 + i)
      await store.touch(new Map([['k51x', 500], ['k51y', 50], ['k51unknown', 900]]))
      expect(await store.recent(0, 10)).toEqual(['k51x', 'k51z', 'k51y'])
      expect(await store.recent(102, 10)).toEqual(['k51x', 'k51z'])
      expect(await store.recent(0, 1)).toEqual(['k51x'])
      expect(await store.count()).toBe(3)
    })

    it('evicts the least recently used unpinned names and their blocks, never pinned ones', async () => {
      const { store } = await fresh()
      const ids = ['k51e1', 'k51e2', 'k51e3', 'k51e4', 'k51e5', 'k51e6']
      for (const [i, id] of ids.entries()) {
        await store.putBlocks([[`blk-${id}`, new Uint8Array([i])]])
        await store.swap(id, undefined, entry(id, 1, [`blk-${id}`]), 10 * (i + 1))
      }
      await store.setPin('k51e1', 'pinned') // the oldest, but pinned
      await store.setPin('k51e2', 'own')
      await store.touch(new Map([['k51e3', 1000]])) // used lately
      expect((await store.evict(3)).sort()).toEqual(['k51e4', 'k51e5', 'k51e6'].slice(0, 3).sort())
      expect(await store.count()).toBe(3)
      for (const id of ['k51e1', 'k51e2', 'k51e3']) expect(await store.get(id)).toBeDefined()
      expect(await store.getBlock('blk-k51e4')).toBeUndefined()
      expect(await store.getBlock('blk-k51e1')).toEqual(new Uint8Array([0]))
      expect(await store.evict(1)).toEqual(['k51e3']) // pinned ones stay even above the bound
      expect(await store.evict(1)).toEqual([])
      expect(await store.count()).toBe(2)
    })

    it('keeps what it acknowledged across a close and reopen', async () => {
      const { store, reopen } = await fresh()
      const token = await store.swap('k51r', undefined, entry('k51r', 4), 1)
      await store.putBlocks([['bafyr', new Uint8Array([4, 2])]])
      await store.setPin('k51r', 'pinned')
      await store.close()
      const again = await reopen()
      expect((await again.get('k51r'))?.token).toBe(token)
      expect(await again.getBlock('bafyr')).toEqual(new Uint8Array([4, 2]))
      expect(await again.pins()).toEqual([{ id: 'k51r', kind: 'pinned' }])
    })

    it('refuses every operation whose signal has aborted (store_timeout), changing nothing', async () => {
      const { store } = await fresh()
      const signal = AbortSignal.abort()
      const refused = { name: 'CacheStoreError', reason: 'store_timeout' }
      await expect(store.swap('k51s', undefined, entry('k51s', 1), 1, { signal })).rejects.toMatchObject(refused)
      await expect(store.putBlocks([['bafys', new Uint8Array([1])]], { signal })).rejects.toMatchObject(refused)
      await expect(store.setPin('k51s', 'pinned', { signal })).rejects.toMatchObject(refused)
      await expect(store.touch(new Map([['k51s', 5]]), { signal })).rejects.toMatchObject(refused)
      for (const read of [store.get('k51s', { signal }), store.getBlock('bafys', { signal }), store.pins({ signal }), store.recent(0, 1, { signal }), store.count({ signal }), store.evict(0, { signal })]) {
        await expect(read).rejects.toMatchObject(refused)
      }
      expect(await store.get('k51s')).toBeUndefined()
      expect(await store.getBlock('bafys')).toBeUndefined()
      expect(await store.pins()).toEqual([])
    })

    it('works as usual under a signal that does not abort', async () => {
      const { store } = await fresh()
      const signal = AbortSignal.timeout(60_000)
      const token = await store.swap('k51l', undefined, entry('k51l', 1), 1, { signal })
      await store.putBlocks([['bafyl', new Uint8Array([7])]], { signal })
      await store.setPin('k51l', 'own', { signal })
      await store.touch(new Map([['k51l', 9]]), { signal })
      expect((await store.get('k51l', { signal }))?.token).toBe(token)
      expect(await store.getBlock('bafyl', { signal })).toEqual(new Uint8Array([7]))
      expect(await store.pins({ signal })).toEqual([{ id: 'k51l', kind: 'own' }])
      expect(await store.recent(0, 5, { signal })).toEqual(['k51l'])
      expect(await store.count({ signal })).toBe(1)
      expect(await store.evict(0, { signal })).toEqual([]) // pinned
    })

    it('fails clearly when used after close', async () => {
      const { store } = await fresh()
      await store.close()
      await expect(store.get('k51a')).rejects.toBeInstanceOf(CacheStoreError)
    })
  })
}
