/**
 * A change to an identity as one recoverable transaction. Before identity.json moves on, everything the change
 * will publish — the new identity.json, the version node block and the signed IPNS record — is written to
 * `<dataDir>/identities/<name>/pending.json` (atomically, fsync'd). The change is then applied in this order:
 * block stored, identity.json written, record stored in the cache, record put on the network, pending.json
 * removed. A daemon that dies anywhere in between finds pending.json at its next start and completes it: all
 * of it is already signed, so no passphrase is needed (spec/did-ipid.md §8.8).
 *
 * Until identity.json is written nothing outside the data directory has seen the new version, so a change that
 * fails before that (a full disk) is rolled back by removing pending.json; after it, the change only goes forward.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from './keystore.ts'

export const PENDING_FILE_FORMAT = 'ipidd-pending/1'
export const PENDING_FILE_NAME = 'pending.json'

/**
 * The points of a transaction, in order; a test-only hook may stop the daemon at each (src/cli/commands/daemon.ts).
 * `prepared`: new key files written and the version and record signed, nothing durable names them yet.
 */
export const COMMIT_STEPS = ['prepared', 'pending-written', 'block-stored', 'identity-written', 'cached', 'published'] as const
export type CommitStep = typeof COMMIT_STEPS[number]

/** What a transaction does: a change's kind, `create`, or `republish` (the same version under a new record). */
export type CommitOperation = 'create' | 'republish' | 'add-service' | 'remove-service' | 'add-key' | 'remove-key' | 'rotate-key' | 'deactivate'
export const COMMIT_OPERATIONS: readonly CommitOperation[] = ['create', 'republish', 'add-service', 'remove-service', 'add-key', 'remove-key', 'rotate-key', 'deactivate']

/** One transaction as pending.json holds it; `identity` is the identity.json it commits (validated by the caller). */
export interface PendingChange {
  operation: CommitOperation
  identity: unknown
  /** The new version node (absent for a republish, which points at the current head). */
  block?: { cid: string, bytes: Uint8Array }
  /** The signed IPNS record pointing at `identity.head` with `identity.sequence`. */
  record: Uint8Array
}

const base64 = z.string().max(1024 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/)
const pendingSchema = z.strictObject({
  format: z.literal(PENDING_FILE_FORMAT),
  operation: z.enum(COMMIT_OPERATIONS as [CommitOperation, ...CommitOperation[]]),
  identity: z.unknown(),
  block: z.strictObject({ cid: z.string().max(256), bytes: base64 }).optional(),
  record: base64
})

export function pendingPath (identityDir: string): string {
  return join(identityDir, PENDING_FILE_NAME)
}

/** Writes the transaction durably (temporary file, fsync, rename, fsync of the folder). */
export function writePending (identityDir: string, change: PendingChange): void {
  writeFileAtomic(pendingPath(identityDir), JSON.stringify({
    format: PENDING_FILE_FORMAT,
    operation: change.operation,
    identity: change.identity,
    ...(change.block === undefined ? {} : { block: { cid: change.block.cid, bytes: Buffer.from(change.block.bytes).toString('base64') } }),
    record: Buffer.from(change.record).toString('base64')
  }, null, 2))
}

/** The pending transaction of an identity folder: undefined when there is none; throws when the file is not one. */
export function readPending (identityDir: string): PendingChange | undefined {
  const path = pendingPath(identityDir)
  if (!existsSync(path)) return undefined
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw new Error(`${path} is not JSON`)
  }
  const parsed = pendingSchema.safeParse(json)
  if (!parsed.success) throw new Error(`${path} is not a pending change`)
  const { operation, identity, block, record } = parsed.data
  return {
    operation,
    identity,
    ...(block === undefined ? {} : { block: { cid: block.cid, bytes: new Uint8Array(Buffer.from(block.bytes, 'base64')) } }),
    record: new Uint8Array(Buffer.from(record, 'base64'))
  }
}

export function removePending (identityDir: string): void {
  rmSync(pendingPath(identityDir), { force: true })
}

/** Error codes of a file system that has no room left: the disk (ENOSPC) or the user's quota (EDQUOT). */
const DISK_FULL_RE = /\b(ENOSPC|EDQUOT)\b/

/** Whether an error (or one it wraps, such as the blockstore's PutFailedError, which keeps only the text) is a full disk. */
export function isDiskFull (err: unknown): boolean {
  for (let e = err as { code?: unknown, message?: unknown, cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && DISK_FULL_RE.test(e.code)) return true
    if (typeof e.message === 'string' && DISK_FULL_RE.test(e.message)) return true
  }
  return false
}
