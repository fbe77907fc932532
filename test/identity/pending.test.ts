/**
 * Changes as transactions (src/identity/pending.ts), on a real embedded node and a real data directory: the
 * pending change a stopped daemon left is completed by a new Identities on the same directory (no passphrase);
 * one that a later version superseded is dropped; one that does not check out is rolled back.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Identities } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N } from '../../src/identity/keystore.ts'
import { PENDING_FILE_NAME } from '../../src/identity/pending.ts'
import { validateRecord } from '../../src/ipns/record.ts'
import { createEmbeddedNode } from '../../src/ipfs/helia.ts'
import type { IpidName } from '../../src/did/identifier.ts'
import type { EmbeddedNode } from '../../src/ipfs/helia.ts'

const PASS = 'a long enough passphrase'
let node: EmbeddedNode
let dataDir: string
let saved: string
const published: Array<{ name: IpidName, record: Uint8Array }> = []

/** Identities as a daemon builds them; at `pending-written` a copy of pending.json and identity.json is kept in `saved`. */
function identitiesOn (dir: string): Identities {
  return new Identities({
    dataDir: dir,
    backend: node,
    seal: { logN: MIN_SCRYPT_LOG_N },
    onPublished: async (name, record) => { published.push({ name, record }) },
    onCommitStep: step => {
      if (step !== 'pending-written') return
      copyFileSync(join(dir, 'identities', 'alice', PENDING_FILE_NAME), join(saved, 'pending.json'))
      copyFileSync(join(dir, 'identities', 'alice', 'identity.json'), join(saved, 'identity.json'))
    }
  })
}

function alicePath (file: string): string {
  return join(dataDir, 'identities', 'alice', file)
}

beforeAll(async () => {
  node = await createEmbeddedNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.start()
  dataDir = mkdtempSync(join(tmpdir(), 'ipidd-pending-'))
  saved = mkdtempSync(join(tmpdir(), 'ipidd-pending-saved-'))
})
afterAll(async () => { await node.stop() })

describe('pending changes', () => {
  it('a change cut short after pending.json is completed by the next start, without a passphrase; superseded and broken ones are dropped', async () => {
    const first = identitiesOn(dataDir)
    await first.create({ name: 'alice', passphrase: PASS })
    const rotated = await first.change('alice', PASS, { kind: 'rotate-key' })

    // The daemon died right after pending.json was written: identity.json at version 1, pending.json for version 2.
    copyFileSync(join(saved, 'identity.json'), alicePath('identity.json'))
    copyFileSync(join(saved, 'pending.json'), alicePath(PENDING_FILE_NAME))
    const restarted = identitiesOn(dataDir)
    expect(restarted.get('alice').version).toBe(1)
    published.length = 0
    expect(await restarted.recover()).toBe(1)
    expect(restarted.get('alice')).toMatchObject({ version: 2, head: rotated.versionId, sequence: '1' })
    expect(JSON.parse(readFileSync(alicePath('identity.json'), 'utf8'))).toMatchObject({ version: 2, head: rotated.versionId })
    expect(published).toHaveLength(1)
    const record = await validateRecord(published[0]!.name, published[0]!.record, Date.now())
    expect(record).toMatchObject({ value: `/ipfs/${rotated.versionId}`, sequence: 1n })
    expect(() => readFileSync(alicePath(PENDING_FILE_NAME))).toThrow()

    // A pending change older than identity.json (version 2 after version 3) is dropped, nothing changes.
    const stale = readFileSync(join(saved, 'pending.json'), 'utf8')
    const third = await restarted.change('alice', PASS, { kind: 'add-key' })
    writeFileSync(alicePath(PENDING_FILE_NAME), stale)
    const again = identitiesOn(dataDir)
    expect(await again.recover()).toBe(0)
    expect(again.get('alice')).toMatchObject({ version: 3, head: third.versionId })
    expect(() => readFileSync(alicePath(PENDING_FILE_NAME))).toThrow()

    // One whose block is not its version does not check out: rolled back, identity.json untouched.
    await again.change('alice', PASS, { kind: 'remove-key', fragment: third.added[0]! })
    const broken = JSON.parse(readFileSync(join(saved, 'pending.json'), 'utf8')) as { block: { bytes: string } }
    const bytes = Buffer.from(broken.block.bytes, 'base64')
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1)
    broken.block.bytes = bytes.toString('base64')
    copyFileSync(join(saved, 'identity.json'), alicePath('identity.json'))
    writeFileSync(alicePath(PENDING_FILE_NAME), JSON.stringify(broken))
    const last = identitiesOn(dataDir)
    expect(await last.recover()).toBe(0)
    expect(last.get('alice')).toMatchObject({ version: 3, head: third.versionId })
    expect(() => readFileSync(alicePath(PENDING_FILE_NAME))).toThrow()
  })
})
