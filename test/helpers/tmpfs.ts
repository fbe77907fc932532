/**
 * A small tmpfs of a test's own, to fill up: a real file system that answers ENOSPC. Needs root (`mount`);
 * `tmpfsSupport()` tells, trying once.
 */
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let support: { ok: true } | { ok: false, reason: string } | undefined

/** Whether this machine lets the test mount a tmpfs (root, a kernel and container that allow it). */
export function tmpfsSupport (): { ok: true } | { ok: false, reason: string } {
  if (support !== undefined) return support
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-tmpfs-probe-'))
  try {
    mountTmpfs(dir, 1024 * 1024)
    unmount(dir)
    support = { ok: true }
  } catch (err) {
    support = { ok: false, reason: (err as Error).message }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return support
}

export function mountTmpfs (dir: string, sizeBytes: number): void {
  mkdirSync(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' })
}

export function unmount (dir: string): void {
  execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
}

/** Chunk sizes used to fill a file system: large first, then down to one page, so that no room is left. */
const FILL_CHUNKS = [1024 * 1024, 64 * 1024, 4096] as const

/** Writes `path` until the file system is full (ENOSPC); returns the bytes written. */
export function fill (path: string): number {
  const fd = openSync(path, 'w', 0o600)
  let written = 0
  try {
    for (const size of FILL_CHUNKS) {
      const chunk = Buffer.alloc(size, 0x5a)
      for (;;) {
        try {
          written += writeSync(fd, chunk)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
          break
        }
      }
    }
  } finally {
    closeSync(fd)
  }
  return written
}
