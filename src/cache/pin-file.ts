/**
 * The operator's pins, in the data directory: the source of truth. The cache store holds a copy, together with
 * the daemon's own identities (whose source of truth is `identities/`), and a shared store can lose it — a
 * Redis restart without persistence, FLUSHALL, an eviction policy — so the cache re-asserts it from here.
 *
 * `pins.json` is `{ "v": 1, "pins": ["k51…", …] }` (canonical ids, sorted), written whole and atomically, 0600,
 * by the writer the daemon hands in (the data directory's `writeFileAtomic`).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { parseDid } from '../did/identifier.ts'

export const PINS_FILE_NAME = 'pins.json'
/** Pins one daemon holds at most: the keeper republishes each of them every round. */
export const MAX_PINS = 100_000
/** A pins file larger than this is not one (100,000 ids of ~62 characters, quoted, fit in 7 MiB). */
export const MAX_PINS_FILE_BYTES = 8 * 1024 * 1024

export class PinFileError extends Error {
  readonly reason: 'corrupt_pins_file' | 'too_many_pins'
  constructor (reason: PinFileError['reason'], message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PinFileError'
    this.reason = reason
  }
}

const fileSchema = z.strictObject({ v: z.literal(1), pins: z.array(z.string().min(1).max(256)).max(MAX_PINS) })

export class PinFile {
  readonly path: string
  private readonly write: (path: string, content: string) => void
  private ids = new Set<string>()

  constructor (dataDir: string, write: (path: string, content: string) => void) {
    this.path = join(dataDir, PINS_FILE_NAME)
    this.write = write
  }

  /**
   * Reads the file; false when there is none yet (a data directory from before pins were kept here). A file that
   * cannot be read is a `PinFileError`, never an empty list: silently forgetting pins is what this file prevents.
   */
  load (): boolean {
    if (!existsSync(this.path)) return false
    try {
      const text = readFileSync(this.path, 'utf8')
      if (text.length > MAX_PINS_FILE_BYTES) throw new Error(`larger than ${MAX_PINS_FILE_BYTES} bytes`)
      const ids = fileSchema.parse(JSON.parse(text)).pins
      for (const id of ids) {
        if (parseDid(`did:ipid:${id}`).id !== id) throw new Error(`${id.slice(0, 80)} is not a canonical id`)
      }
      this.ids = new Set(ids)
      return true
    } catch (err) {
      throw new PinFileError('corrupt_pins_file', `the pins file ${this.path} cannot be read (${(err as Error).message.slice(0, 200)}): ` +
        'restore it from a backup, or remove it and pin again', { cause: err })
    }
  }

  list (): string[] {
    return [...this.ids]
  }

  has (id: string): boolean {
    return this.ids.has(id)
  }

  /** Writes the file with these ids (the first time, from the pins a store held before the file existed). */
  create (ids: string[]): void {
    if (ids.length > MAX_PINS) throw new PinFileError('too_many_pins', `at most ${MAX_PINS} identities can be pinned`)
    this.save(new Set(ids))
  }

  /** Adds canonical ids; writes the file when anything changed. */
  add (...ids: string[]): void {
    const next = new Set([...this.ids, ...ids])
    if (next.size === this.ids.size) return
    if (next.size > MAX_PINS) throw new PinFileError('too_many_pins', `at most ${MAX_PINS} identities can be pinned`)
    this.save(next)
  }

  remove (id: string): void {
    if (!this.ids.has(id)) return
    const next = new Set(this.ids)
    next.delete(id)
    this.save(next)
  }

  /** Written before it is believed: a pin is held once it is on disk. */
  private save (ids: Set<string>): void {
    this.write(this.path, `${JSON.stringify({ v: 1, pins: [...ids].sort() })}\n`)
    this.ids = ids
  }
}
