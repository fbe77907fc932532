/**
 * The admin API's bearer token: 32 random bytes (base64url), made on the daemon's first start and kept in
 * `<dataDir>/admin.token` (0600, written atomically) for the CLI to read. Whoever can read the file can change
 * every identity's document (the passphrase is still needed for that) and the pins, so the file is treated as
 * ssh treats a private key: a token file that other users could read, that another user owns, or that is not a
 * plain file is refused, not silently repaired — it may already have been read, and only the operator can
 * tell (`chmod 600` to keep it, or delete it to get a new one on the next start).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { lstatSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../identity/keystore.ts'
import { ADMIN_TOKEN_FILE, ADMIN_URL_FILE } from '../shared-constants.ts'

/** The token file and the running daemon's URL file in the data directory (shared with the CLI). */
export { ADMIN_TOKEN_FILE, ADMIN_URL_FILE }
/** 256 bits: far beyond guessing, even at the request rate of a loopback socket. */
export const ADMIN_TOKEN_BYTES = 32
/** Permission bits that let anyone but the owner read, write or run the file. */
const GROUP_OR_OTHER_BITS = 0o077
/** 32 bytes in base64url without padding: 43 characters. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/

export class AdminTokenError extends Error {
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'AdminTokenError'
  }
}

export function adminTokenPath (dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE)
}

/** Reads the token, or makes one (0600) when the file does not exist. Throws `AdminTokenError` when unsafe. */
export function loadOrCreateAdminToken (dataDir: string): string {
  const path = adminTokenPath(dataDir)
  let stat
  try {
    stat = lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const token = randomBytes(ADMIN_TOKEN_BYTES).toString('base64url')
    writeFileAtomic(path, `${token}\n`)
    return token
  }
  if (!stat.isFile()) throw new AdminTokenError(`${path} is not a plain file (a link?): delete it and start again to get a new token`)
  if (process.platform !== 'win32') {
    if ((stat.mode & GROUP_OR_OTHER_BITS) !== 0) {
      throw new AdminTokenError(`${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}): ` +
        'run `chmod 600` on it if nobody else could have read it, or delete it to get a new token')
    }
    const uid = process.getuid?.()
    if (uid !== undefined && stat.uid !== uid) throw new AdminTokenError(`${path} belongs to another user (uid ${stat.uid})`)
  }
  const token = readFileSync(path, 'utf8').trim()
  if (!TOKEN_RE.test(token)) throw new AdminTokenError(`${path} does not hold an admin token: delete it to get a new one`)
  return token
}

/**
 * Compares a presented token with the expected one in time independent of where they differ, and of their
 * lengths (both are hashed first, so `timingSafeEqual` sees equal lengths).
 */
export function tokensEqual (presented: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(presented), digest(expected))
}
