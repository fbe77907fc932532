/**
 * The cold key file, on the owner's side: the update keys `ipid keys cold` moved off the daemon, each sealed
 * under the identity's passphrase (format `ipidd-update-keys/1`, written atomically with mode 0600). A symbolic
 * link to the file is followed: the file it points at is the one rewritten, and the link stays.
 *
 * A change with cold keys, under pre-rotation (every version commits to the key that signs the next one):
 * 0. the whole change holds an exclusive lock, `<file>.lock` next to the file (created with O_EXCL): a second
 *    change with the same file, from this or another shell, stops at once with a one-line message instead of
 *    racing the first one (two changes signed by one key: one is refused, and its bookkeeping must not undo the
 *    other's new key). A lock left by a killed `ipid` (the pid it names no longer runs) is taken over; one whose
 *    holder cannot be told is removed by hand, as the message says;
 * 1. the key that signs is the one whose public key the daemon names (`coldSigner`, asked again once the lock
 *    is held); an older copy of the file does not hold it, and is refused before anything is sent;
 * 2. the new next key is generated here, sealed under the passphrase with the signer's key-derivation cost, and
 *    written into the file next to the signer *before* the daemon is asked — so whatever happens to the answer,
 *    the key the new version commits to is already on the owner's disk;
 * 3. the daemon signs with the signer (opened for this request only) and commits to the new key's public key;
 * 4. the file is read again and only the new key's entry is touched: on success the file keeps it alone (the
 *    signer is spent: it is published, and a committed key can sign only once); on a refusal (4xx: nothing
 *    changed) its entry is removed and the rest left as it is; when the outcome is unknown (no answer, 5xx,
 *    interrupted) both keys stay, and the next change picks the right one by `coldSigner`.
 */
import { closeSync, existsSync, openSync, readFileSync, realpathSync, unlinkSync, writeSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { COLD_KEYS_FORMAT, MAX_COLD_KEYS } from '../identity/identities.ts'
import { keyFileSchema, sealKey, writeFileAtomic } from '../identity/keystore.ts'
import { CHANGE_TIMEOUT_MS } from './api.ts'
import { CliError, EXIT_FAILED, FailedError, UsageError } from './errors.ts'
import type { AdminClient } from './api.ts'
import type { IdentityDetail } from '../http/admin.ts'
import type { ColdKeys } from '../identity/identities.ts'
import type { KeyFile } from '../identity/keystore.ts'

/** Largest cold key file read: a few sealed keys. */
export const MAX_COLD_FILE_BYTES = 64 * 1024

/** What a change needs to know of the identity (from `GET /identities/{name}`). */
export type ColdDetail = Pick<IdentityDetail, 'name' | 'did' | 'prerotation' | 'coldSigner'>

export function readColdFile (path: string, expectedDid?: string): ColdKeys {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError('bad_update_key', `cannot read the cold key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (text.length > MAX_COLD_FILE_BYTES) throw new UsageError('bad_update_key', `${path} is too large to be a cold key file`)
  let file: Partial<ColdKeys> | undefined
  try {
    file = JSON.parse(text) as Partial<ColdKeys>
  } catch {}
  const keys = file?.keys
  if (file?.format !== COLD_KEYS_FORMAT || typeof file.did !== 'string' || typeof file.name !== 'string' || !Array.isArray(keys) ||
    keys.length === 0 || keys.length > MAX_COLD_KEYS * 2) {
    throw new UsageError('bad_update_key', `${path} is not a cold key file (written by \`ipid keys cold\`)`)
  }
  // Each entry is a sealed key file as the keystore writes them: a damaged one is reported here, by the file's name.
  keys.forEach((key, i) => {
    const parsed = keyFileSchema.safeParse(key)
    if (parsed.success) return
    const issue = parsed.error.issues[0]
    const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `
    throw new FailedError('bad_update_key', `${path} is damaged: its key ${i + 1} of ${keys.length} is not a sealed key file (${where}${issue?.message ?? 'invalid'}): use another copy of the file`)
  })
  if (expectedDid !== undefined && file.did !== expectedDid) {
    throw new UsageError('bad_update_key', `${path} holds the update keys of ${file.did}, not of ${expectedDid}`)
  }
  return file as ColdKeys
}

export function writeColdFile (path: string, file: ColdKeys): void {
  writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`)
}

/** The file a path names, through any symbolic links (so that rewriting it keeps the links). */
export function realColdPath (path: string): string {
  try {
    return realpathSync(path)
  } catch (err) {
    throw new UsageError('bad_update_key', `cannot read the cold key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** Writes a new cold key file; refuses to replace an existing one. */
export function createColdFile (path: string, file: ColdKeys): void {
  if (existsSync(path)) throw new UsageError('file_exists', `${path} already exists: choose another --out, or move that file away first`)
  writeColdFile(path, file)
  const back = readColdFile(path, file.did)
  if (JSON.stringify(back.keys) !== JSON.stringify(file.keys)) throw new FailedError('write_failed', `${path} does not read back as written: nothing was moved`)
}

/** The lock of a cold key file (its real path): held for a whole change. */
export function lockPathOf (realPath: string): string {
  return `${realPath}.lock`
}

/**
 * Takes the lock of a cold key file; returns its release. A lock whose pid no longer runs (a killed `ipid`) is
 * taken over, as the daemon does with its data directory; a live holder, or a lock that names none, stops the
 * change with who holds it and how to clear it.
 */
export function lockColdFile (realPath: string): () => void {
  const lock = lockPathOf(realPath)
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(lock, 'wx', 0o600)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') throw new UsageError('bad_update_key', `cannot lock the cold key file: cannot create ${lock} (${code ?? (err as Error).message}): its folder must be writable`)
      const held = readLock(lock)
      // Released meanwhile: try again.
      if (held === undefined) continue
      const pid = /^\d+/.exec(held)?.[0] ?? ''
      // No pid yet may be a lock being taken this very moment: only a named, dead holder is stale.
      if (pid === '' || isAlive(Number(pid))) {
        throw new FailedError('cold_file_locked', `${realPath} is in use by another change (${lock} exists${pid === '' ? '' : `, held by pid ${pid}`}): wait for it to finish; if no ipid is running, delete ${lock} and try again`)
      }
      // Stale: removed only if it is still the lock just read (another ipid may have taken it over meanwhile).
      if (readLock(lock) === held) {
        try {
          unlinkSync(lock)
        } catch {}
      }
      continue
    }
    try {
      writeSync(fd, `${process.pid}\n`)
    } finally {
      closeSync(fd)
    }
    return () => {
      try {
        unlinkSync(lock)
      } catch {}
    }
  }
  throw new FailedError('cold_file_locked', `${realPath} is in use by another change (${lock} was taken again at once): wait for it to finish and try again`)
}

function readLock (lock: string): string | undefined {
  try {
    return readFileSync(lock, 'utf8')
  } catch {
    return undefined
  }
}

/** Whether a process with this pid runs (one of another user's counts: it cannot be signalled, but it runs). */
function isAlive (pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A 4xx answer: the daemon refused before anything changed. Anything else may have come after the publish. */
export function refusedBeforeChange (err: unknown): boolean {
  return err instanceof CliError && err.httpStatus !== undefined && err.httpStatus >= 400 && err.httpStatus < 500
}

/** An error whose outcome is unknown, as a failure (exit 1) whatever it was: the daemon was reached before. */
export function outcomeUnknown (err: unknown): unknown {
  if (err instanceof CliError && err.exitCode !== EXIT_FAILED) return new FailedError(err.reason, err.message, { cause: err })
  return err
}

export interface ColdChange {
  admin: AdminClient
  detail: ColdDetail
  /** The cold key file's path (a symbolic link is followed). */
  path: string
  passphrase: string
  method: string
  /** The admin path of the change, and its body without passphrase and updateKey. */
  apiPath: string
  body: Record<string, unknown>
  /** Whether the new version commits to a next key (pre-rotation, and not a deactivation). */
  needsNext: boolean
  /** Told when the outcome is unknown and the file holds both keys. */
  warn: (text: string) => void
}

/** Runs a change signed by the cold update key, keeping the cold key file right whatever the outcome. */
export async function coldChange<T> (change: ColdChange): Promise<T> {
  const path = realColdPath(change.path)
  readColdFile(path, change.detail.did)
  const release = lockColdFile(path)
  const state = { asked: false, next: false }
  const bothKept = `${change.path} now holds both the old and the new update key; keep it as it is (\`ipid show ${change.detail.name}\` tells which one signs next)`
  // Interrupted (Ctrl-C): the lock goes; once the daemon was asked, the outcome is unknown.
  const onSignal = (signal: NodeJS.Signals): void => {
    release()
    if (process.stderr.isTTY) process.stderr.write('\n')
    if (state.asked && state.next) change.warn(`interrupted: the outcome is unknown: ${bothKept}`)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await lockedColdChange<T>(change, path, bothKept, state)
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    release()
  }
}

async function lockedColdChange<T> (change: ColdChange, path: string, bothKept: string, state: { asked: boolean, next: boolean }): Promise<T> {
  const { admin, passphrase } = change
  // Read under the lock: the file and the signer as they are now, not as before another change.
  const file = readColdFile(path, change.detail.did)
  const detail = await admin.get<ColdDetail>(`/identities/${encodeURIComponent(change.detail.name)}`)
  const signer = file.keys.find(k => k.publicKey === detail.coldSigner)
  if (signer === undefined) {
    throw new FailedError('wrong_update_key', `${change.path} does not hold the update key that signs the next version of ${detail.name} (${detail.coldSigner ?? 'unknown'}): it is an older copy; use the latest one`)
  }
  let next: KeyFile | undefined
  if (change.needsNext) {
    const key = await generateKeyPair('Ed25519')
    next = await sealKey(key, 'update', passphrase, { logN: signer.kdf.logN })
    // Stored before the daemon commits to it.
    writeColdFile(path, { ...file, keys: [...file.keys, next] })
    state.next = true
  }
  const updateKey = { signer, ...(next === undefined ? {} : { next: next.publicKey }) }
  let result: T
  try {
    state.asked = true
    result = await admin.call<T>(change.method, change.apiPath, { ...change.body, passphrase, updateKey }, CHANGE_TIMEOUT_MS)
  } catch (err) {
    if (next === undefined) throw err
    if (!refusedBeforeChange(err)) {
      change.warn(`the outcome is unknown: ${bothKept}`)
      throw outcomeUnknown(err)
    }
    // Refused: only the new key's entry goes; whatever else the file holds now stays.
    const publicKey = next.publicKey
    try {
      const now = readColdFile(path, change.detail.did)
      if (now.keys.some(k => k.publicKey === publicKey) && now.keys.length > 1) writeColdFile(path, { ...now, keys: now.keys.filter(k => k.publicKey !== publicKey) })
    } catch {}
    throw err
  }
  if (next !== undefined) {
    // Published: the new key alone signs next; every other key in the file is spent.
    try {
      let now = file
      try {
        now = readColdFile(path, change.detail.did)
      } catch {}
      writeColdFile(path, { ...now, keys: [next] })
    } catch (err) {
      change.warn(`the change is published, but ${change.path} could not be tidied (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): it holds both the old and the new update key; keep it as it is`)
    }
  }
  return result
}
