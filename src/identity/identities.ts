/**
 * The identities this daemon holds: create, update services, add / remove / rotate keys, deactivate, publish,
 * republish, back up. Each operation appends a version node linking the previous one, signs an IPNS record with
 * the next sequence number, and puts block and record on the network.
 *
 * Keys, per identity (all in encrypted key files, see keystore.ts):
 * - root: names the DID and signs IPNS records;
 * - update: signed the chain while no pre-rotation commitment was made (the first version lists it);
 * - next: the committed next update key (pre-rotation, on by default): it signs the next version, which then
 *   commits to a fresh key in turn — so the key that may sign is never one already published;
 * - auth keys: the document's authentication / assertion keys.
 * On disk: `<dataDir>/identities/<name>/identity.json` and `keys/*.key`, written atomically, 0600. New key files
 * are written before identity.json names them, so a crash at any point leaves a consistent identity.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { buildDocument } from '../did/document.ts'
import { didFromPublicKey, parseDid } from '../did/identifier.ts'
import { ed25519ToMultikey, multikeyToEd25519, updateKeyCommitment } from '../did/keys.ts'
import { createFirstVersion, createNextVersion, decodeVersionNode } from '../did/version-node.ts'
import { systemClock } from '../did/time.ts'
import { DEFAULT_RECORD_TTL_MS, DEFAULT_RECORD_VALIDITY_MS, createRecord, validateRecord } from '../ipns/record.ts'
import { KeystoreError, openKey, readKeyFile, sealKey, writeFileAtomic } from './keystore.ts'
import { OperationError } from '../errors.ts'
import type { IpidName } from '../did/identifier.ts'
import type { KeySpec, ServiceEndpoint, ServiceSpec, VerificationRelationship } from '../did/document.ts'
import type { Clock } from '../did/time.ts'
import type { DecodedVersionNode } from '../did/version-node.ts'
import type { IpfsBackend } from '../ipfs/backend.ts'
import type { Logger } from '../log.ts'
import type { SealOptions } from './keystore.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE_FORMAT = 'ipidd-identity/1'
export const BACKUP_FORMAT = 'ipidd-backup/1'
/** Identity names: short, safe as folder names. */
export const IDENTITY_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/
/** Re-sign a record once less than this share of its validity remains. */
export const REPUBLISH_WHEN_REMAINING = 0.5
/** How long publishing waits to learn the network's highest sequence before it signs. */
export const SEQUENCE_PROBE_MS = 3_000
const DEFAULT_AUTH_PURPOSES: VerificationRelationship[] = ['authentication', 'assertionMethod']

export class IdentityError extends OperationError {
  override readonly name = 'IdentityError'
}

const purposes = z.array(z.enum(['authentication', 'assertionMethod', 'keyAgreement', 'capabilityInvocation', 'capabilityDelegation']))
const identitySchema = z.strictObject({
  format: z.literal(IDENTITY_FILE_FORMAT),
  name: z.string().regex(IDENTITY_NAME_RE),
  did: z.string(),
  head: z.string(),
  version: z.number().int().min(1),
  /** The last sequence number signed, as a decimal string (uint64). */
  sequence: z.string().regex(/^\d+$/),
  deactivated: z.boolean(),
  keys: z.strictObject({
    root: z.string(),
    update: z.string(),
    next: z.string().optional(),
    auth: z.array(z.strictObject({ fragment: z.string(), file: z.string(), publicKey: z.string(), purposes }))
  }),
  services: z.array(z.strictObject({ fragment: z.string(), type: z.union([z.string(), z.array(z.string())]), serviceEndpoint: z.unknown() }))
})
export type IdentityFile = z.infer<typeof identitySchema>

export interface IdentitySummary {
  name: string
  did: string
  versionId: string
  version: number
  deactivated: boolean
}

export interface IdentitiesInit {
  dataDir: string
  backend: IpfsBackend
  clock?: Clock
  logger?: Logger
  seal?: SealOptions
  validityMs?: number
  ttlMs?: number
  /** The daemon's libp2p PeerId: new identities list it as a service, so peers can find and authenticate it. */
  peerId?: string
  /** Called with every record signed, before it goes to the network (the daemon stores it in its cache). */
  onPublished?: (name: IpidName, record: Uint8Array) => Promise<void>
}

/** The fragment and type of the service entry naming the daemon's libp2p node. */
export const PEER_SERVICE_FRAGMENT = 'libp2p'
export const PEER_SERVICE_TYPE = 'LibP2PNode'

export interface CreateOptions {
  name: string
  passphrase: string
  services?: ServiceSpec[]
  /** Commit to the next update key in every version (pre-rotation). Default true. */
  prerotation?: boolean
}

export type Change =
  | { kind: 'add-service', service: ServiceSpec }
  | { kind: 'remove-service', fragment: string }
  | { kind: 'add-key', purposes?: VerificationRelationship[] }
  | { kind: 'remove-key', fragment: string }
  | { kind: 'rotate-key', purpose?: VerificationRelationship }
  | { kind: 'deactivate' }

export interface ChangeResult extends IdentitySummary {
  previousVersionId: string
  /** Fragments of keys added and removed by the change. */
  added: string[]
  removed: string[]
}

export class Identities {
  private readonly dir: string
  private readonly backend: IpfsBackend
  private readonly clock: Clock
  private readonly logger?: Logger
  private readonly seal: SealOptions
  private readonly validityMs: number
  private readonly ttlMs: number
  private readonly peerId?: string
  private readonly onPublished?: (name: IpidName, record: Uint8Array) => Promise<void>
  /** Root keys unlocked during this run, for republishing without asking again. Never written anywhere. */
  private readonly unlockedRoots = new Map<string, Ed25519PrivateKey>()
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor (init: IdentitiesInit) {
    this.dir = join(init.dataDir, 'identities')
    this.backend = init.backend
    this.clock = init.clock ?? systemClock
    this.logger = init.logger
    this.seal = init.seal ?? {}
    this.validityMs = init.validityMs ?? DEFAULT_RECORD_VALIDITY_MS
    this.ttlMs = init.ttlMs ?? DEFAULT_RECORD_TTL_MS
    if (init.peerId !== undefined) this.peerId = init.peerId
    if (init.onPublished !== undefined) this.onPublished = init.onPublished
  }

  list (): IdentitySummary[] {
    if (!existsSync(this.dir)) return []
    return readdirSync(this.dir).filter(n => IDENTITY_NAME_RE.test(n) && existsSync(this.identityPath(n))).sort().map(n => summary(this.read(n)))
  }

  get (name: string): IdentityFile {
    return this.read(name)
  }

  async create (options: CreateOptions): Promise<IdentitySummary> {
    const { name, passphrase } = options
    if (!IDENTITY_NAME_RE.test(name)) throw new IdentityError('bad_name', 'identity names are 1–63 lowercase letters, digits, - or _, starting with a letter or digit')
    if (existsSync(this.identityPath(name))) throw new IdentityError('exists', `an identity named "${name}" already exists`)
    return this.exclusive(name, async () => {
      const root = await generateKeyPair('Ed25519')
      const update = await generateKeyPair('Ed25519')
      const auth = await generateKeyPair('Ed25519')
      const next = options.prerotation === false ? undefined : await generateKeyPair('Ed25519')
      const did = didFromPublicKey(root.publicKey)
      const services = [...(options.services ?? [])]
      if (this.peerId !== undefined && !services.some(s => s.fragment === PEER_SERVICE_FRAGMENT)) {
        services.push({ fragment: PEER_SERVICE_FRAGMENT, type: PEER_SERVICE_TYPE, serviceEndpoint: { peerId: this.peerId } })
      }
      const authKeys = [{ fragment: 'auth-1', file: 'auth-1.key', publicKey: ed25519ToMultikey(auth.publicKey), purposes: DEFAULT_AUTH_PURPOSES }]
      await this.writeKey(name, 'root.key', root, 'root', passphrase)
      await this.writeKey(name, 'update-1.key', update, 'update', passphrase)
      if (next !== undefined) await this.writeKey(name, 'update-2.key', next, 'update', passphrase)
      await this.writeKey(name, 'auth-1.key', auth, 'auth', passphrase)
      const first = await createFirstVersion({
        document: documentOf(did, authKeys, services),
        updateKeys: [ed25519ToMultikey(update.publicKey)],
        ...(next === undefined ? {} : { nextUpdateKeyHashes: [await updateKeyCommitment(ed25519ToMultikey(next.publicKey))] })
      }, root, this.clock())
      const file: IdentityFile = {
        format: IDENTITY_FILE_FORMAT,
        name,
        did,
        head: first.cid.toString(),
        version: 1,
        sequence: '0',
        deactivated: false,
        keys: { root: 'root.key', update: 'update-1.key', ...(next === undefined ? {} : { next: 'update-2.key' }), auth: authKeys },
        services
      }
      await this.backend.putBlock(first.cid, first.bytes)
      writeFileAtomic(this.identityPath(name), JSON.stringify(file, null, 2))
      this.unlockedRoots.set(name, root)
      await this.publish(file, root, 0n)
      this.logger?.info({ name, did, versionId: first.cid.toString() }, 'identity created')
      return summary(file)
    })
  }

  async change (name: string, passphrase: string, change: Change): Promise<ChangeResult> {
    return this.exclusive(name, async () => {
      const file = this.read(name)
      if (file.deactivated) throw new IdentityError('deactivated', `${name} is deactivated: it cannot change any more`)
      const root = await this.unlock(name, file.keys.root, passphrase)
      const signerFile = file.keys.next ?? file.keys.update
      const signer = await this.unlock(name, signerFile, passphrase)
      const prev = await this.head(file)
      const added: string[] = []
      const removed: string[] = []
      let auth = [...file.keys.auth]
      let services = [...file.services]
      let nextFile: string | undefined
      let next: Ed25519PrivateKey | undefined

      if (change.kind !== 'deactivate') {
        switch (change.kind) {
          case 'add-service':
            if (services.some(s => s.fragment === change.service.fragment) || auth.some(k => k.fragment === change.service.fragment)) {
              throw new IdentityError('duplicate', `"${change.service.fragment}" is already used in this document`)
            }
            services.push(change.service)
            break
          case 'remove-service':
            if (!services.some(s => s.fragment === change.fragment)) throw new IdentityError('unknown_service', `no service "${change.fragment}"`)
            services = services.filter(s => s.fragment !== change.fragment)
            break
          case 'add-key': {
            const key = await this.newAuthKey(name, auth, change.purposes ?? DEFAULT_AUTH_PURPOSES, passphrase)
            auth.push(key)
            added.push(key.fragment)
            break
          }
          case 'remove-key':
            if (!auth.some(k => k.fragment === change.fragment)) throw new IdentityError('unknown_key', `no key "${change.fragment}"`)
            auth = auth.filter(k => k.fragment !== change.fragment)
            removed.push(change.fragment)
            break
          case 'rotate-key': {
            const purpose = change.purpose ?? 'authentication'
            const old = auth.find(k => k.purposes.includes(purpose))
            if (old === undefined) throw new IdentityError('unknown_key', `no key for ${purpose} to rotate`)
            const key = await this.newAuthKey(name, auth, old.purposes, passphrase)
            auth = auth.filter(k => k !== old).concat(key)
            added.push(key.fragment)
            removed.push(old.fragment)
            break
          }
        }
        if (file.keys.next !== undefined) {
          next = await generateKeyPair('Ed25519')
          nextFile = `update-${countFiles(file) + 1}.key`
          await this.writeKey(name, nextFile, next, 'update', passphrase)
        }
      }
      const version = change.kind === 'deactivate'
        ? await createNextVersion(prev, { deactivate: true }, signer, this.clock())
        : await createNextVersion(prev, {
          document: documentOf(file.did, auth, services),
          updateKeys: [ed25519ToMultikey(signer.publicKey)],
          ...(next === undefined ? {} : { nextUpdateKeyHashes: [await updateKeyCommitment(ed25519ToMultikey(next.publicKey))] })
        }, signer, this.clock())
      await this.backend.putBlock(version.cid, version.bytes)
      const updated: IdentityFile = {
        ...file,
        head: version.cid.toString(),
        version: version.node.version,
        deactivated: change.kind === 'deactivate',
        keys: { ...file.keys, update: signerFile, ...(nextFile === undefined ? {} : { next: nextFile }), auth },
        services
      }
      if (change.kind === 'deactivate') delete updated.keys.next
      const sequence = await this.nextSequence(updated)
      await this.publish(updated, root, sequence)
      this.logger?.info({ name, did: file.did, change: change.kind, versionId: version.cid.toString() }, 'identity changed')
      return { ...summary(updated), previousVersionId: prev.cid.toString(), added, removed }
    })
  }

  /**
   * Re-signs the records of identities whose root key is unlocked in this run, once less than half their
   * validity remains, and puts them on the network again.
   */
  async republish (): Promise<number> {
    let count = 0
    for (const { name } of this.list()) {
      const root = this.unlockedRoots.get(name)
      if (root === undefined) continue
      await this.exclusive(name, async () => {
        const file = this.read(name)
        const sequence = BigInt(file.sequence)
        const current = await this.backend.getRecord(parseDid(file.did), { signal: AbortSignal.timeout(SEQUENCE_PROBE_MS) })
          .then(async bytes => validateRecord(parseDid(file.did), bytes, this.clock()))
          .catch(() => undefined)
        const remaining = current === undefined ? 0 : (current.validUntilMs - this.clock()) / this.validityMs
        if (current !== undefined && current.sequence >= sequence && remaining > REPUBLISH_WHEN_REMAINING) {
          await this.backend.putRecord(parseDid(file.did), current.bytes).catch(() => {})
          return
        }
        await this.publish(file, root, await this.nextSequence(file))
        count++
      })
    }
    return count
  }

  /** Unlocks an identity's root key for this run (so that it can be republished unattended). */
  async unlockRoot (name: string, passphrase: string): Promise<void> {
    const file = this.read(name)
    this.unlockedRoots.set(name, await openKey(readKeyFile(this.keyPath(name, file.keys.root)), passphrase))
  }

  /** An encrypted backup: identity.json and the key files as they are (each already sealed). */
  exportBackup (name: string): string {
    const file = this.read(name)
    const keyFiles = [file.keys.root, file.keys.update, ...(file.keys.next === undefined ? [] : [file.keys.next]), ...file.keys.auth.map(k => k.file)]
    const keys = Object.fromEntries(keyFiles.map(f => [f, readKeyFile(this.keyPath(name, f))]))
    return JSON.stringify({ format: BACKUP_FORMAT, identity: file, keys }, null, 2)
  }

  /** Restores a backup; the passphrase must open its root key, so a typo cannot restore something unusable. */
  async importBackup (text: string, passphrase: string, asName?: string): Promise<IdentitySummary> {
    const backup = z.strictObject({ format: z.literal(BACKUP_FORMAT), identity: identitySchema, keys: z.record(z.string(), z.unknown()) }).safeParse(safeJson(text))
    if (!backup.success) throw new IdentityError('bad_backup', 'not an ipidd backup file')
    const identity = { ...backup.data.identity, name: asName ?? backup.data.identity.name }
    if (!IDENTITY_NAME_RE.test(identity.name)) throw new IdentityError('bad_name', 'invalid identity name')
    if (existsSync(this.identityPath(identity.name))) throw new IdentityError('exists', `an identity named "${identity.name}" already exists`)
    const root = await openKey(backup.data.keys[identity.keys.root], passphrase)
    if (didFromPublicKey(root.publicKey) !== identity.did) throw new IdentityError('bad_backup', 'the backup\'s root key does not name its DID')
    for (const [fileName, content] of Object.entries(backup.data.keys)) {
      if (!/^[a-z0-9-]+\.key$/.test(fileName)) throw new IdentityError('bad_backup', `unexpected key file name ${fileName}`)
      writeFileAtomic(this.keyPath(identity.name, fileName), JSON.stringify(content, null, 2))
    }
    writeFileAtomic(this.identityPath(identity.name), JSON.stringify(identity, null, 2))
    return summary(identity)
  }

  private async newAuthKey (name: string, auth: IdentityFile['keys']['auth'], keyPurposes: VerificationRelationship[], passphrase: string): Promise<IdentityFile['keys']['auth'][number]> {
    const numbers = auth.map(k => Number(/^auth-(\d+)$/.exec(k.fragment)?.[1] ?? 0))
    const fragment = `auth-${Math.max(0, ...numbers, ...existingAuthNumbers(this.keyDir(name))) + 1}`
    const key = await generateKeyPair('Ed25519')
    await this.writeKey(name, `${fragment}.key`, key, 'auth', passphrase)
    return { fragment, file: `${fragment}.key`, publicKey: ed25519ToMultikey(key.publicKey), purposes: keyPurposes }
  }

  private async publish (file: IdentityFile, root: Ed25519PrivateKey, sequence: bigint): Promise<void> {
    const record = await createRecord({ privateKey: root, value: CID.parse(file.head), sequence, validUntilMs: this.clock() + this.validityMs, ttlMs: this.ttlMs })
    writeFileAtomic(this.identityPath(file.name), JSON.stringify({ ...file, sequence: sequence.toString() }, null, 2))
    await this.onPublished?.(parseDid(file.did), record.bytes).catch((err: Error) => {
      this.logger?.warn({ did: file.did, err: err.message }, 'the new record could not be stored in the cache')
    })
    await this.backend.putRecord(parseDid(file.did), record.bytes, { signal: AbortSignal.timeout(30_000) })
  }

  /** One above both our last sequence and the highest the network shows (a thief may have gone higher). */
  private async nextSequence (file: IdentityFile): Promise<bigint> {
    const local = BigInt(file.sequence)
    const name = parseDid(file.did)
    const seen = await this.backend.getRecord(name, { signal: AbortSignal.timeout(SEQUENCE_PROBE_MS) })
      .then(async bytes => (await validateRecord(name, bytes, this.clock())).sequence)
      .catch(() => -1n)
    return (seen > local ? seen : local) + 1n
  }

  private async head (file: IdentityFile): Promise<DecodedVersionNode> {
    const cid = CID.parse(file.head)
    return decodeVersionNode(cid, await this.backend.getBlock(cid, { signal: AbortSignal.timeout(10_000) }), file.did)
  }

  private async unlock (name: string, keyFile: string, passphrase: string): Promise<Ed25519PrivateKey> {
    try {
      return await openKey(readKeyFile(this.keyPath(name, keyFile)), passphrase)
    } catch (err) {
      if (err instanceof KeystoreError) throw err
      throw new IdentityError('missing_key', `the key ${keyFile} of ${name} is not here (moved to cold storage?)`, { cause: err })
    }
  }

  private async writeKey (name: string, fileName: string, key: Ed25519PrivateKey, role: 'root' | 'update' | 'auth', passphrase: string): Promise<void> {
    writeFileAtomic(this.keyPath(name, fileName), JSON.stringify(await sealKey(key, role, passphrase, this.seal), null, 2))
  }

  private read (name: string): IdentityFile {
    if (!IDENTITY_NAME_RE.test(name) || !existsSync(this.identityPath(name))) throw new IdentityError('unknown_identity', `no identity named "${name}"`)
    const parsed = identitySchema.safeParse(safeJson(readFileSync(this.identityPath(name), 'utf8')))
    if (!parsed.success) throw new IdentityError('corrupt_identity', `${this.identityPath(name)} is not a valid identity file`)
    return parsed.data
  }

  /** Operations on one identity run one at a time: each reads the head the previous one wrote. */
  private async exclusive<T> (name: string, task: () => Promise<T>): Promise<T> {
    const before = this.locks.get(name) ?? Promise.resolve()
    const run = before.catch(() => {}).then(task)
    this.locks.set(name, run)
    try {
      return await run
    } finally {
      if (this.locks.get(name) === run) this.locks.delete(name)
    }
  }

  private identityPath (name: string): string { return join(this.dir, name, 'identity.json') }
  private keyDir (name: string): string { return join(this.dir, name, 'keys') }
  private keyPath (name: string, file: string): string { return join(this.keyDir(name), file) }
}

function documentOf (did: string, auth: IdentityFile['keys']['auth'], services: IdentityFile['services']) {
  const keys: KeySpec[] = auth.map(k => {
    const publicKey = multikeyToEd25519(k.publicKey)
    if (publicKey === undefined) throw new IdentityError('corrupt_identity', `key ${k.fragment} is not an Ed25519 key`)
    return { fragment: k.fragment, publicKey, purposes: k.purposes }
  })
  return buildDocument({ did, keys, services: services.map(s => ({ fragment: s.fragment, type: s.type, serviceEndpoint: s.serviceEndpoint as ServiceEndpoint })) })
}

function summary (file: IdentityFile): IdentitySummary {
  return { name: file.name, did: file.did, versionId: file.head, version: file.version, deactivated: file.deactivated }
}

function countFiles (file: IdentityFile): number {
  const numbers = [file.keys.update, file.keys.next ?? ''].map(f => Number(/^update-(\d+)\.key$/.exec(f)?.[1] ?? 0))
  return Math.max(...numbers)
}

function existingAuthNumbers (dir: string): number[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).map(f => Number(/^auth-(\d+)\.key$/.exec(f)?.[1] ?? 0))
}

function safeJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
