/**
 * What a daemon's identities need to run unattended, told rather than found out a week later: whose root key is
 * locked in this run (their records are not re-signed, and lapse at their EOL), and when each own record expires.
 * The banner, `GET /admin/v1/status` and `/metrics` show it.
 */
import { parseDid } from '../did/identifier.ts'
import { validateRecord } from '../ipns/record.ts'
import type { Identities } from './identities.ts'

export interface OwnRecordExpiry {
  name: string
  did: string
  /** The EOL of the record this daemon holds for the identity. */
  expiresAtMs: number
}

export interface UnattendedState {
  /** The identities held, by name. */
  held: string[]
  /** Held identities whose root key is locked in this run, by name: nothing re-signs their records. */
  locked: string[]
  /** The EOL of each held identity's record, earliest first; an identity whose record is not held is absent. */
  expiries: OwnRecordExpiry[]
}

/**
 * Reads each held identity's record through `heldRecord` (the cache: never the network, so that a scrape stays
 * cheap). A record that cannot be read or parsed counts as not held.
 */
export async function unattendedState (identities: Identities, heldRecord: (id: string) => Promise<Uint8Array | undefined>, nowMs: number): Promise<UnattendedState> {
  const held = identities.list()
  const expiries = await Promise.all(held.map(async ({ name, did }): Promise<OwnRecordExpiry | undefined> => {
    const ipid = parseDid(did)
    const bytes = await heldRecord(ipid.id).catch(() => undefined)
    if (bytes === undefined) return undefined
    const record = await validateRecord(ipid, bytes, nowMs, { allowExpired: true }).catch(() => undefined)
    return record === undefined ? undefined : { name, did, expiresAtMs: record.validUntilMs }
  }))
  return {
    held: held.map(i => i.name),
    locked: held.filter(i => !identities.rootUnlocked(i.name)).map(i => i.name),
    expiries: expiries.filter((e): e is OwnRecordExpiry => e !== undefined).sort((a, b) => a.expiresAtMs - b.expiresAtMs)
  }
}
