/**
 * Which identity DIDAuth proves when nobody names one: the configured one (`auth.identity`), else the one chosen
 * on this daemon (`<dataDir>/didauth.json`), else the only identity held. The choice is written as soon as the
 * daemon holds exactly one identity (at start, or when the first is made), so that making a second identity
 * keeps DIDAuth proving the first instead of silently proving none; `ipid init --didauth` moves it to the new one.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { IDENTITY_NAME_RE } from '../shared-constants.ts'
import { writeFileAtomic } from '../identity/keystore.ts'
import { IdentityError } from '../identity/identities.ts'
import type { Identities } from '../identity/identities.ts'
import type { Logger } from '../log.ts'

export const DIDAUTH_CHOICE_FILE = 'didauth.json'
/** The file holds one short name; anything larger is not ours. */
const MAX_CHOICE_FILE_BYTES = 1024

/** Why DIDAuth proves the identity it does. */
export type DidAuthSource = 'configured' | 'chosen' | 'only' | 'none'

/** What the banner and `GET /admin/v1/status` say of DIDAuth. */
export interface DidAuthState {
  /** The identity proved when a peer names none; null: none (several held and none chosen, or none held). */
  identity: string | null
  did?: string
  source: DidAuthSource
  /** Its authentication key is unlocked in this run: without it DIDAuth proves nothing. */
  unlocked: boolean
}

export class DidAuthChoice {
  private readonly path: string
  private readonly identities: Identities
  private readonly configured?: string
  private chosen?: string

  constructor (init: { dataDir: string, identities: Identities, configured?: string, logger?: Logger }) {
    this.path = join(init.dataDir, DIDAUTH_CHOICE_FILE)
    this.identities = init.identities
    if (init.configured !== undefined) this.configured = init.configured
    const chosen = readChoice(this.path)
    if (chosen === null) init.logger?.warn({ file: this.path }, 'DIDAuth: the chosen identity file is not valid; ignored')
    else if (chosen !== undefined) this.chosen = chosen
  }

  /** The name DIDAuth proves by default, and why. */
  current (): { name?: string, source: DidAuthSource } {
    if (this.configured !== undefined) return { name: this.configured, source: 'configured' }
    if (this.chosen !== undefined) return { name: this.chosen, source: 'chosen' }
    const active = this.identities.list().filter(i => !i.deactivated)
    return active.length === 1 ? { name: active[0]!.name, source: 'only' } : { source: 'none' }
  }

  /**
   * Proves `name` from now on (unless `auth.identity` is configured, which wins); kept across restarts. Throws
   * IdentityError `unknown_identity`, or `deactivated` (a deactivated identity has no key to prove with).
   */
  choose (name: string): void {
    if (this.identities.get(name).deactivated) throw new IdentityError('deactivated', `${name} is deactivated: it has no key to prove itself with`)
    writeFileAtomic(this.path, `${JSON.stringify({ identity: name })}\n`)
    this.chosen = name
  }

  /** Writes down the only identity held as the choice, once: at start, and after each identity is made. */
  settle (): void {
    if (this.configured !== undefined || this.chosen !== undefined) return
    const { name, source } = this.current()
    if (source === 'only' && name !== undefined) this.choose(name)
  }

  describe (): DidAuthState {
    const { name, source } = this.current()
    if (name === undefined) return { identity: null, source, unlocked: false }
    let did: string | undefined
    let unlocked = false
    try {
      did = this.identities.get(name).did
      unlocked = this.identities.authSigner(name) !== undefined
    } catch {
      // A configured or chosen identity that is not held: it proves nothing (the daemon warns at start).
    }
    return { identity: name, ...(did === undefined ? {} : { did }), source, unlocked }
  }
}

/** The name in the choice file; undefined when there is none, null when it is not a valid choice file. */
function readChoice (path: string): string | undefined | null {
  if (!existsSync(path)) return undefined
  try {
    const text = readFileSync(path, 'utf8')
    if (text.length > MAX_CHOICE_FILE_BYTES) return null
    const name = (JSON.parse(text) as { identity?: unknown } | null)?.identity
    return typeof name === 'string' && IDENTITY_NAME_RE.test(name) ? name : null
  } catch {
    return null
  }
}
