/**
 * One daemon per data directory: its stores are not made for two writers.
 *
 * The lock is an OS file lock, not a pid file. A pid file outlives a daemon killed with SIGKILL, and its pid
 * can then name a live, unrelated process — in a container always: the restarted daemon is PID 1 again, and
 * so is the pid in the stale file, so it would refuse to start forever. Node has no `flock()`; SQLite takes
 * POSIX `fcntl()` locks, and `node:sqlite` ships with Node (no native add-on to compile). A connection that
 * holds `BEGIN EXCLUSIVE` in `locking_mode=EXCLUSIVE` keeps every other connection, in any process, out of
 * the file until it closes, and the kernel drops the lock when the process dies, however it dies. The file's
 * content plays no part in the lock (SQLite locks bytes past its end); it stays in place after a stop, since
 * deleting a lock file lets a starter that opened the old file and one that made a new one both "hold" it.
 *
 * The holder writes its pid into the database header (`user_version`, bytes 60–63) while it holds the lock,
 * so that a refused starter can name it: reading the bytes takes no lock. The pid only names; it decides
 * nothing.
 */
import { openSync, readSync, closeSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

export const LOCK_FILE_NAME = 'daemon.lock'
/** Where SQLite keeps `user_version` in a database file: four bytes, big-endian, from this offset. */
const USER_VERSION_OFFSET = 60
/** SQLite's result codes met here: the file is locked by another connection, torn, or not a database. */
const SQLITE_BUSY = 5
const SQLITE_CORRUPT = 11
const SQLITE_NOTADB = 26

export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError'
  /** The holder's pid as it wrote it (in its own PID namespace), when it could be read. */
  readonly pid: number | undefined
  constructor (dataDir: string, pid: number | undefined) {
    super(`another ipidd${pid === undefined ? '' : ` (pid ${pid})`} is using ${dataDir}; stop it or choose another --data-dir`)
    this.pid = pid
  }
}

/** Takes the data directory's lock, or throws `DataDirLockedError`; the returned function lets it go. */
export function lockDataDir (dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE_NAME)
  try {
    return hold(path, dataDir)
  } catch (err) {
    if (errcode(err) !== SQLITE_NOTADB && errcode(err) !== SQLITE_CORRUPT) throw err
    // A pid file left by an ipidd before this lock, or a lock file torn by a crash mid-write. Emptied in
    // place (not replaced), so that every starter still locks the same file; an empty file is a database.
    truncateSync(path, 0)
    return hold(path, dataDir)
  }
}

function hold (path: string, dataDir: string): () => void {
  // timeout 0: a held lock is answered at once, not waited for.
  const db = new DatabaseSync(path, { timeout: 0 })
  try {
    db.exec('PRAGMA locking_mode=EXCLUSIVE')
    // No journal file beside the lock: what the file holds does not matter, and a torn one is emptied.
    db.exec('PRAGMA journal_mode=MEMORY')
    db.exec('BEGIN EXCLUSIVE')
    db.exec(`PRAGMA user_version=${process.pid}`)
    // In exclusive locking mode the commit writes the pid and keeps the lock until the connection closes.
    db.exec('COMMIT')
  } catch (err) {
    db.close()
    if (errcode(err) === SQLITE_BUSY) throw new DataDirLockedError(dataDir, holderPid(path))
    throw err
  }
  let released = false
  return () => {
    if (released) return
    released = true
    db.close()
  }
}

function errcode (err: unknown): number | undefined {
  const code = (err as { errcode?: unknown }).errcode
  return typeof code === 'number' ? code : undefined
}

function holderPid (path: string): number | undefined {
  const bytes = Buffer.alloc(4)
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    if (readSync(fd, bytes, 0, 4, USER_VERSION_OFFSET) !== 4) return undefined
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  const pid = bytes.readUInt32BE(0)
  return pid > 0 ? pid : undefined
}
