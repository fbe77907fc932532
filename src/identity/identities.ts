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
 * Cold update keys (`exportUpdateKeys`, then `dropUpdateKeys`): the update keys leave the daemon for a file its
 * owner keeps offline (`COLD_KEYS_FORMAT`, one sealed key file per key). identity.json then records only the public key of the key
 * that signs the next version (`keys.cold.signer`), and every change must be given that key file
 * (`ColdUpdateKey`); with pre-rotation it also names the next update key by its public key alone — the caller
 * generated and stored it before asking, so the new key's private half never touches the daemon, and a change
 * whose answer is lost cannot strand the identity.
 * On disk: `<dataDir>/identities/<name>/identity.json` and `keys/*.key`, written atomically, 0600. New key files
 * are written before identity.json names them, and every change is a transaction (pending.ts): its signed block
 * and record are kept in pending.json before identity.json moves on, and `recover` completes it after a crash.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { buildDocument, checkServiceSafe } from '../did/document.ts'
import { didFromPublicKey, parseDid } from '../did/identifier.ts'
import { ed25519ToMultikey, multikeyToEd25519, updateKeyCommitment } from '../did/keys.ts'
import { createFirstVersion, createNextVersion, decodeVersionNode } from '../did/version-node.ts'
import { systemClock } from '../did/time.ts'
import { DEFAULT_RECORD_TTL_MS, DEFAULT_RECORD_VALIDITY_MS, createRecord, validateRecord } from '../ipns/record.ts'
import { KeystoreError, openKey, readKeyFile, sealKey, writeFileAtomic } from './keystore.ts'
import { IDENTITY_NAME_RE } from '../shared-constants.ts'
import { isDiskFull, pendingPath, readPending, removePending, writePending } from './pending.ts'
import { OperationError } from '../errors.ts'
import type { IpidName } from '../did/identifier.ts'
import type { KeySpec, ServiceEndpoint, ServiceSpec, VerificationRelationship } from '../did/document.ts'
import type { Clock } from '../did/time.ts'
import type { DecodedVersionNode } from '../did/version-node.ts'
import type { IpfsBackend } from '../ipfs/backend.ts'
import type { Logger } from '../log.ts'
import type { KeyFile, SealOptions } from './keystore.ts'
import type { CommitOperation, CommitStep, PendingChange } from './pending.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

/** Identity names: short, safe as folder names (shared with the CLI, which must not load this module). */
export { IDENTITY_NAME_RE }
export const IDENTITY_FILE_FORMAT = 'ipidd-identity/1'
export const BACKUP_FORMAT = 'ipidd-backup/1'
/** The file that holds update keys kept away from the daemon: `{ format, name, did, keys: KeyFile[] }`. */
export const COLD_KEYS_FORMAT = 'ipidd-update-keys/1'
/** Most keys a cold key file holds (the signer, a pending next key, a few leftovers). */
export const MAX_COLD_KEYS = 8
/** Key file names, as identity.json and backups name them: no path, no dot files. */
const KEY_FILE_NAME_RE = /^[a-z0-9-]+\.key$/
/** The folder of the data directory that holds one folder per identity. */
export const IDENTITIES_DIR = 'identities'
/**
 * Re-sign a record once less than this share of its validity remains: a day after signing, with the default 7
 * days. So a daemon restarted without its passphrase still has 6 days or more before its records lapse: time to
 * see the banner, `ipid status` and the `ipidd_identity_locked` metric (spec/did-ipid.md §7.6).
 */
export const REPUBLISH_WHEN_REMAINING = 6 / 7
/** How long publishing waits to learn the network's highest sequence before it signs. */
export const SEQUENCE_PROBE_MS = 3_000
/** How long a new record's put on the network may take; past it the keeper and the next start put it again. */
export const PUBLISH_DEADLINE_MS = 30_000
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
    /** Key files of the update keys, while the daemon holds them (absent once they are cold). */
    update: z.string().optional(),
    next: z.string().optional(),
    /** Present once the update keys are kept elsewhere: who signs the next version, and whether versions commit to a next key. */
    cold: z.strictObject({ signer: z.string(), prerotation: z.boolean(), since: z.string() }).optional(),
    auth: z.array(z.strictObject({ fragment: z.string(), file: z.string(), publicKey: z.string(), purposes }))
  }).refine(k => (k.update === undefined) !== (k.cold === undefined), { message: 'update keys are either held (update) or cold' }),
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

/** An identity whose identity.json cannot be read or is not valid: stopped alone, with how to restore it. */
export interface DamagedIdentity {
  name: string
  path: string
  message: string
}

export interface IdentitiesInit {
  dataDir: string
  backend: IpfsBackend
  clock?: Clock
  logger?: Logger
  seal?: SealOptions
  validityMs?: number
  ttlMs?: number
  /** The daemon's libp2p PeerId: identities created with `peerService` list it, so peers can find and authenticate it. */
  peerId?: string
  /** Called with every record signed, before it goes to the network (the daemon stores it in its cache). */
  onPublished?: (name: IpidName, record: Uint8Array) => Promise<void>
  /** Called at each step of every change (pending.ts); tests stop the daemon there. Never throws. */
  onCommitStep?: (step: CommitStep, operation: CommitOperation) => void
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
  /**
   * List the daemon's PeerId as the `#libp2p` service. Opt-in: every identity that lists it is linked to the
   * others of this daemon for good (history is public), against pairwise DIDs (spec §13).
   */
  peerService?: boolean
}

export type Change =
  | { kind: 'add-service', service: ServiceSpec }
  | { kind: 'remove-service', fragment: string }
  | { kind: 'add-key', purposes?: VerificationRelationship[] }
  | { kind: 'remove-key', fragment: string }
  | { kind: 'rotate-key', purpose?: VerificationRelationship }
  | { kind: 'deactivate' }

/** The update key a change on an identity with cold update keys is given. */
export interface ColdUpdateKey {
  /** The sealed key file (as read from the cold key file) of the key that signs the next version. */
  signer: unknown
  /** With pre-rotation: the Multikey of the new next update key, already stored by the caller. */
  next?: string
}

/** The cold key file: update keys kept away from the daemon, each sealed under the identity's passphrase. */
export interface ColdKeys {
  format: typeof COLD_KEYS_FORMAT
  name: string
  did: string
  keys: KeyFile[]
}

export interface ChangeResult extends IdentitySummary {
  previousVersionId: string
  /** Fragments of keys added and removed by the change. */
  added: string[]
  removed: string[]
}

/** One key of an identity's current document, to sign with (src/sign/); the private key stays in Identities. */
export interface DocumentSigner {
  did: string
  /** The key's fragment (`auth-2`) and its absolute DID URL (`did:ipid:…#auth-2`), the JOSE `kid`. */
  fragment: string
  keyId: string
  /** The document version (`versionId`, the version node's CID) that lists the key: a verifier may pin it. */
  versionId: string
  purpose: VerificationRelationship
  /** An Ed25519 signature over `data`. */
  sign: (data: Uint8Array) => Promise<Uint8Array>
}

/** Signs DIDAuth proofs for one identity (the shape src/auth expects of a signer). */
export interface AuthSigner {
  did: string
  /** `<did>#<fragment>` of the authentication key. */
  keyId: string
  sign: (data: Uint8Array) => Promise<Uint8Array>
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
  private readonly onCommitStep?: (step: CommitStep, operation: CommitOperation) => void
  /** Root keys unlocked during this run, for republishing without asking again. Never written anywhere. */
  private readonly unlockedRoots = new Map<string, Ed25519PrivateKey>()
  /**
   * Authentication keys unlocked (or made) during this run, by identity and fragment: DIDAuth signs with them.
   * Kept in memory only; keys made by add-key and rotate-key join at once, so a rotation takes effect in this run.
   */
  private readonly unlockedAuth = new Map<string, Map<string, Ed25519PrivateKey>>()
  private readonly locks = new Map<string, Promise<unknown>>()
  /**
   * identity.json of each identity as last read or written, and the sorted names: the daemon is the only writer
   * of its data directory (daemon.lock), and DIDAuth asks for its signer on every handshake.
   */
  private readonly files = new Map<string, IdentityFile>()
  private names?: string[]
  /** Identities whose identity.json was found damaged, until a backup is imported over it. */
  private readonly damagedFiles = new Map<string, DamagedIdentity>()

  constructor (init: IdentitiesInit) {
    this.dir = join(init.dataDir, IDENTITIES_DIR)
    this.backend = init.backend
    this.clock = init.clock ?? systemClock
    this.logger = init.logger
    this.seal = init.seal ?? {}
    this.validityMs = init.validityMs ?? DEFAULT_RECORD_VALIDITY_MS
    this.ttlMs = init.ttlMs ?? DEFAULT_RECORD_TTL_MS
    if (init.peerId !== undefined) this.peerId = init.peerId
    if (init.onPublished !== undefined) this.onPublished = init.onPublished
    if (init.onCommitStep !== undefined) this.onCommitStep = init.onCommitStep
  }

  list (): IdentitySummary[] {
    this.names ??= existsSync(this.dir)
      ? readdirSync(this.dir).filter(n => IDENTITY_NAME_RE.test(n) && existsSync(this.identityPath(n))).sort()
      : []
    // A damaged identity.json stops that identity alone: the others, and the daemon, run on (`damaged()`).
    return this.names.flatMap(n => {
      try {
        return [summary(this.read(n))]
      } catch (err) {
        if ((err as IdentityError).reason === 'damaged_identity') return []
        throw err
      }
    })
  }

  /** The identities left out of `list()` because their identity.json is damaged, each with how to restore it. */
  damaged (): DamagedIdentity[] {
    this.list()
    return [...this.damagedFiles.values()]
  }

  get (name: string): IdentityFile {
    return this.read(name)
  }

  async create (options: CreateOptions): Promise<IdentitySummary> {
    const { name, passphrase } = options
    if (!IDENTITY_NAME_RE.test(name)) throw new IdentityError('bad_name', 'identity names are 1–63 lowercase letters, digits, - or _, starting with a letter or digit')
    if (existsSync(this.identityPath(name))) throw new IdentityError('exists', `an identity named "${name}" already exists`)
    for (const service of options.services ?? []) checkServiceSafe(service)
    return this.exclusive(name, async () => {
      const root = await generateKeyPair('Ed25519')
      const update = await generateKeyPair('Ed25519')
      const auth = await generateKeyPair('Ed25519')
      const next = options.prerotation === false ? undefined : await generateKeyPair('Ed25519')
      const did = didFromPublicKey(root.publicKey)
      const services = [...(options.services ?? [])]
      if (options.peerService === true && this.peerId === undefined) throw new IdentityError('no_libp2p_node', 'this daemon runs no libp2p node (Kubo backend): it has no PeerId to list')
      if (options.peerService === true && this.peerId !== undefined && !services.some(s => s.fragment === PEER_SERVICE_FRAGMENT)) {
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
      await this.publish(file, root, 0n, 'create', first)
      this.unlockedRoots.set(name, root)
      this.unlockedAuth.set(name, new Map([['auth-1', auth]]))
      this.logger?.info({ name, did, versionId: first.cid.toString() }, 'identity created')
      return summary(file)
    })
  }

  /**
   * Signs and publishes a new version with `change`. With cold update keys, `options.updateKey` is required: the
   * sealed key file of the key that signs, and (with pre-rotation, unless deactivating) the next key's Multikey.
   */
  async change (name: string, passphrase: string, change: Change, options: { updateKey?: ColdUpdateKey } = {}): Promise<ChangeResult> {
    return this.exclusive(name, async () => {
      const file = this.read(name)
      if (file.deactivated) throw new IdentityError('deactivated', `${name} is deactivated: it cannot change any more`)
      // New services only: one published before stays (history is immutable) and can be removed.
      if (change.kind === 'add-service') checkServiceSafe(change.service)
      const cold = file.keys.cold
      const prerotation = cold?.prerotation ?? file.keys.next !== undefined
      // Everything that needs no key is checked before the (slow) key derivations.
      const coldNext = cold === undefined ? undefined : checkColdUpdateKey(name, cold, options.updateKey, prerotation && change.kind !== 'deactivate')
      if (cold === undefined && options.updateKey !== undefined) {
        throw new IdentityError('update_keys_held', `this daemon holds the update keys of ${name}: no update key file is needed`)
      }
      const root = await this.unlock(name, file.keys.root, passphrase)
      const signerFile = cold === undefined ? heldSignerFile(file) : undefined
      const signer = signerFile === undefined ? await openKey(options.updateKey?.signer, passphrase) : await this.unlock(name, signerFile, passphrase)
      const prev = await this.head(file)
      await checkSigner(name, prev, ed25519ToMultikey(signer.publicKey))
      const added: string[] = []
      const removed: string[] = []
      let auth = [...file.keys.auth]
      let services = [...file.services]
      let nextFile: string | undefined
      /** Multikey of the next update key this version commits to (pre-rotation). */
      let nextPublic: string | undefined

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
        if (cold !== undefined) {
          nextPublic = coldNext
        } else if (prerotation) {
          // A held next key: made here and sealed before identity.json names it.
          const next = await generateKeyPair('Ed25519')
          nextFile = `update-${countFiles(file) + 1}.key`
          await this.writeKey(name, nextFile, next, 'update', passphrase)
          nextPublic = ed25519ToMultikey(next.publicKey)
        }
      }
      const version = change.kind === 'deactivate'
        ? await createNextVersion(prev, { deactivate: true }, signer, this.clock())
        : await createNextVersion(prev, {
          document: documentOf(file.did, auth, services),
          updateKeys: [ed25519ToMultikey(signer.publicKey)],
          ...(nextPublic === undefined ? {} : { nextUpdateKeyHashes: [await updateKeyCommitment(nextPublic)] })
        }, signer, this.clock())
      const keys: IdentityFile['keys'] = cold !== undefined
        ? { ...file.keys, cold: { ...cold, signer: nextPublic ?? cold.signer }, auth }
        : { ...file.keys, update: signerFile, ...(nextFile === undefined ? {} : { next: nextFile }), auth }
      const updated: IdentityFile = {
        ...file,
        head: version.cid.toString(),
        version: version.node.version,
        deactivated: change.kind === 'deactivate',
        keys,
        services
      }
      if (change.kind === 'deactivate') delete updated.keys.next
      const sequence = await this.nextSequence(updated)
      await this.publish(updated, root, sequence, change.kind, version)
      this.logger?.info({ name, did: file.did, change: change.kind, versionId: version.cid.toString() }, 'identity changed')
      return { ...summary(updated), previousVersionId: prev.cid.toString(), added, removed }
    })
  }

  /**
   * The sealed key file of the update key that signs the next version, as it is on disk, for its owner to store
   * away before `dropUpdateKeys`. Nothing changes here; the passphrase must open the key, so that what leaves the
   * daemon is something its owner can use.
   */
  async exportUpdateKeys (name: string, passphrase: string): Promise<ColdKeys> {
    const file = this.read(name)
    const signerFile = heldSignerFile(checkHeld(file))
    const sealed = readKeyFile(this.keyPath(name, signerFile))
    await openKey(sealed, passphrase)
    return { format: COLD_KEYS_FORMAT, name, did: file.did, keys: [sealed as KeyFile] }
  }

  /**
   * Removes the update keys from the daemon, once their owner has stored the export: `publicKeys` must name
   * exactly the keys `exportUpdateKeys` gave. From then on every change needs the cold key file. identity.json
   * is rewritten first, so a crash leaves the keys named cold (and possibly still on disk), never lost.
   */
  async dropUpdateKeys (name: string, passphrase: string, publicKeys: string[]): Promise<IdentityFile> {
    return this.exclusive(name, async () => {
      const file = this.read(name)
      const signer = await this.unlock(name, heldSignerFile(checkHeld(file)), passphrase)
      const multikey = ed25519ToMultikey(signer.publicKey)
      if (publicKeys.length !== 1 || publicKeys[0] !== multikey) {
        throw new IdentityError('cold_keys_mismatch', `these are not the update keys of ${name}: store the keys the export gave, then name their public keys`)
      }
      const updated: IdentityFile = {
        ...file,
        keys: { root: file.keys.root, cold: { signer: multikey, prerotation: file.keys.next !== undefined, since: new Date(this.clock()).toISOString() }, auth: file.keys.auth }
      }
      this.write(updated)
      // Every update key file goes, the spent ones too: none of them is of use here any more.
      for (const keyFile of readdirSync(this.keyDir(name))) {
        if (/^update-\d+\.key$/.test(keyFile)) rmSync(this.keyPath(name, keyFile), { force: true })
      }
      this.logger?.info({ name, did: file.did }, 'update keys moved to cold storage')
      return updated
    })
  }

  /** Checks that the passphrase opens the identity's root key (before handing out a backup). */
  async verifyPassphrase (name: string, passphrase: string): Promise<void> {
    const file = this.read(name)
    await openKey(readKeyFile(this.keyPath(name, file.keys.root)), passphrase)
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
        await this.publish(file, root, await this.nextSequence(file), 'republish')
        count++
      })
    }
    return count
  }

  /** Whether the identity's root key is unlocked in this run: only then are its records re-signed (`republish`). */
  rootUnlocked (name: string): boolean {
    return this.unlockedRoots.has(name)
  }

  /** Unlocks an identity's root key for this run (so that it can be republished unattended). */
  async unlockRoot (name: string, passphrase: string): Promise<void> {
    const file = this.read(name)
    this.unlockedRoots.set(name, await openKey(readKeyFile(this.keyPath(name, file.keys.root)), passphrase))
  }

  /**
   * Unlocks an identity's document keys (authentication and assertion) for this run, so that DIDAuth can prove
   * it (authSigner) and its owner can sign with them (documentSigner).
   */
  async unlockAuth (name: string, passphrase: string): Promise<void> {
    const file = this.read(name)
    const keys = new Map<string, Ed25519PrivateKey>()
    for (const key of file.keys.auth) {
      keys.set(key.fragment, await this.unlock(name, key.file, passphrase))
    }
    this.unlockedAuth.set(name, keys)
  }

  /**
   * What DIDAuth signs with for `name`: the DID, the current authentication key's verification method id, and a
   * signing function (the private key stays here). The key is the newest one the published document lists under
   * `authentication` that is unlocked in this run; undefined when there is none, or the identity is deactivated.
   * Throws `unknown_identity` for a name not held.
   */
  authSigner (name: string): AuthSigner | undefined {
    const file = this.read(name)
    if (file.deactivated) return undefined
    const unlocked = this.unlockedAuth.get(name)
    for (const spec of [...file.keys.auth].reverse()) {
      const key = unlocked?.get(spec.fragment)
      if (key === undefined || !spec.purposes.includes('authentication')) continue
      return { did: file.did, keyId: `${file.did}#${spec.fragment}`, sign: async data => key.sign(data) }
    }
    return undefined
  }

  /**
   * What the owner signs with (src/sign/): one key of the current document holding `purpose` — `fragment` when
   * named, else the newest such key. The key must be unlocked in this run, unless `passphrase` opens it for this
   * one call (it is not kept). Throws IdentityError: `unknown_identity`, `deactivated`, `unknown_key` (not in
   * the current document), `wrong_purpose`, `key_locked`, `wrong_passphrase`.
   */
  async documentSigner (name: string, options: { purpose: VerificationRelationship, fragment?: string, passphrase?: string }): Promise<DocumentSigner> {
    const file = this.read(name)
    if (file.deactivated) throw new IdentityError('deactivated', `${name} is deactivated: its document lists no keys`)
    const { purpose, fragment } = options
    let spec: IdentityFile['keys']['auth'][number] | undefined
    if (fragment !== undefined) {
      spec = file.keys.auth.find(k => k.fragment === fragment)
      if (spec === undefined) throw new IdentityError('unknown_key', `#${fragment} is not a key of the current document of ${name} (version ${file.version})`)
      if (!spec.purposes.includes(purpose)) throw new IdentityError('wrong_purpose', `#${fragment} of ${name} is not listed under ${purpose} (it is: ${spec.purposes.join(', ')})`)
    } else {
      spec = [...file.keys.auth].reverse().find(k => k.purposes.includes(purpose))
      if (spec === undefined) throw new IdentityError('unknown_key', `the current document of ${name} lists no ${purpose} key`)
    }
    let key = this.unlockedAuth.get(name)?.get(spec.fragment)
    if (key === undefined) {
      if (options.passphrase === undefined) throw new IdentityError('key_locked', `#${spec.fragment} of ${name} is locked: give its passphrase, or start the daemon with IPIDD_PASSPHRASE`)
      key = await this.unlock(name, spec.file, options.passphrase)
    }
    const opened = key
    return { did: file.did, fragment: spec.fragment, keyId: `${file.did}#${spec.fragment}`, versionId: file.head, purpose, sign: async data => opened.sign(data) }
  }

  /** An encrypted backup: identity.json and the key files as they are (each already sealed). */
  exportBackup (name: string): string {
    const file = this.read(name)
    const keyFiles = [file.keys.root, file.keys.update, file.keys.next, ...file.keys.auth.map(k => k.file)].filter((f): f is string => f !== undefined)
    const keys = Object.fromEntries(keyFiles.map(f => [f, readKeyFile(this.keyPath(name, f))]))
    return JSON.stringify({ format: BACKUP_FORMAT, identity: file, keys }, null, 2)
  }

  /** Restores a backup; the passphrase must open its root key, so a typo cannot restore something unusable. */
  async importBackup (text: string, passphrase: string, asName?: string): Promise<IdentitySummary> {
    const backup = z.strictObject({ format: z.literal(BACKUP_FORMAT), identity: identitySchema, keys: z.record(z.string(), z.unknown()) }).safeParse(safeJson(text))
    if (!backup.success) throw new IdentityError('bad_backup', 'not an ipidd backup file')
    const identity = { ...backup.data.identity, name: asName ?? backup.data.identity.name }
    if (!IDENTITY_NAME_RE.test(identity.name)) throw new IdentityError('bad_name', 'invalid identity name')
    const damaged = this.damagedFiles.get(identity.name)
    if (existsSync(this.identityPath(identity.name)) && damaged === undefined) throw new IdentityError('exists', `an identity named "${identity.name}" already exists`)
    // Every key file identity.json names is a plain name in its keys folder, never a path elsewhere.
    const named = [identity.keys.root, identity.keys.update, identity.keys.next, ...identity.keys.auth.map(k => k.file)]
    if (!named.every(f => f === undefined || KEY_FILE_NAME_RE.test(f))) throw new IdentityError('bad_backup', 'the backup names a key file outside its keys folder')
    const root = await openKey(backup.data.keys[identity.keys.root], passphrase)
    if (didFromPublicKey(root.publicKey) !== identity.did) throw new IdentityError('bad_backup', 'the backup\'s root key does not name its DID')
    for (const [fileName, content] of Object.entries(backup.data.keys)) {
      if (!KEY_FILE_NAME_RE.test(fileName)) throw new IdentityError('bad_backup', `unexpected key file name ${fileName}`)
      writeFileAtomic(this.keyPath(identity.name, fileName), JSON.stringify(content, null, 2))
    }
    // The damaged file is kept beside the restored one, for a look at what happened to it.
    if (damaged !== undefined) copyFileSync(damaged.path, `${damaged.path}.damaged`)
    this.write(identity)
    return summary(identity)
  }

  private async newAuthKey (name: string, auth: IdentityFile['keys']['auth'], keyPurposes: VerificationRelationship[], passphrase: string): Promise<IdentityFile['keys']['auth'][number]> {
    const numbers = auth.map(k => Number(/^auth-(\d+)$/.exec(k.fragment)?.[1] ?? 0))
    const fragment = `auth-${Math.max(0, ...numbers, ...existingAuthNumbers(this.keyDir(name))) + 1}`
    const key = await generateKeyPair('Ed25519')
    await this.writeKey(name, `${fragment}.key`, key, 'auth', passphrase)
    // Usable by DIDAuth once a published document lists it (authSigner reads the identity file).
    this.unlockedAuth.set(name, new Map(this.unlockedAuth.get(name)).set(fragment, key))
    return { fragment, file: `${fragment}.key`, publicKey: ed25519ToMultikey(key.publicKey), purposes: keyPurposes }
  }

  /**
   * Signs the record of `file` (its head, `sequence`) and commits `file` with it as one transaction (pending.ts):
   * the signed block and record are kept durably before identity.json moves on, so a daemon stopped anywhere in
   * between completes the change at its next start. A failure before identity.json is written (a full disk)
   * rolls the change back and throws; once it is written, the change stands, and a cache or network failure
   * is logged and tried again by `recover` (at start and with each republish check).
   */
  private async publish (file: IdentityFile, root: Ed25519PrivateKey, sequence: bigint, operation: CommitOperation, block?: { cid: CID, bytes: Uint8Array }): Promise<void> {
    const record = await createRecord({ privateKey: root, value: CID.parse(file.head), sequence, validUntilMs: this.clock() + this.validityMs, ttlMs: this.ttlMs })
    const identity: IdentityFile = { ...file, sequence: sequence.toString() }
    const change: PendingChange = { operation, identity, record: record.bytes, ...(block === undefined ? {} : { block: { cid: block.cid.toString(), bytes: block.bytes } }) }
    const dir = this.identityDir(file.name)
    this.step('prepared', operation)
    try {
      writePending(dir, change)
      this.step('pending-written', operation)
      if (block !== undefined) await this.backend.putBlock(block.cid, block.bytes)
      this.step('block-stored', operation)
      this.write(identity)
    } catch (err) {
      removePending(dir)
      throw err
    }
    this.step('identity-written', operation)
    await this.finish(identity, change)
  }

  /** The part of a transaction after identity.json: the record into the cache and onto the network, then pending.json goes. */
  private async finish (identity: IdentityFile, change: PendingChange): Promise<boolean> {
    const name = parseDid(identity.did)
    let done = true
    await this.onPublished?.(name, change.record).catch((err: Error) => {
      done = false
      this.logger?.warn({ did: identity.did, err: err.message }, 'the new record could not be stored in the cache; it is tried again later')
    })
    this.step('cached', change.operation)
    await this.backend.putRecord(name, change.record, { signal: AbortSignal.timeout(PUBLISH_DEADLINE_MS) }).catch((err: Error) => {
      done = false
      this.logger?.warn({ did: identity.did, err: err.message }, 'the new record could not be put on the network; it is tried again later')
    })
    this.step('published', change.operation)
    if (done) removePending(this.identityDir(identity.name))
    return done
  }

  /**
   * Completes the transactions a stopped daemon left (pending.json): stores the block, writes identity.json, stores
   * the record in the cache and puts it on the network — all of it already signed, so no passphrase is needed.
   * A pending change that a later identity.json supersedes is dropped; one that does not check out (its record or
   * block does not match the identity) is rolled back, with a warning. A record past its EOL is not published:
   * the version is kept, and the record is re-signed by the next change or republish with the root key.
   * Returns how many were completed.
   */
  async recover (): Promise<number> {
    if (!existsSync(this.dir)) return 0
    let completed = 0
    for (const name of readdirSync(this.dir).filter(n => IDENTITY_NAME_RE.test(n))) {
      const dir = this.identityDir(name)
      if (!existsSync(pendingPath(dir))) continue
      // A failure here (a full disk, a blockstore that does not answer) leaves the pending change for the next try.
      await this.exclusive(name, async () => {
        let checked: { identity: IdentityFile, change: PendingChange, expired: boolean } | undefined
        try {
          checked = await this.checkPending(name, readPending(dir))
        } catch (err) {
          this.logger?.warn({ name, err: (err as Error).message }, 'a pending change does not check out: rolled back')
          removePending(dir)
          return
        }
        if (checked === undefined) {
          removePending(dir)
          return
        }
        const { identity, change, expired } = checked
        if (change.block !== undefined) await this.backend.putBlock(CID.parse(change.block.cid), change.block.bytes)
        this.write(identity)
        if (expired) {
          this.logger?.warn({ name, did: identity.did, version: identity.version }, 'a pending change was completed, but its record has expired: the next change, or a start with the passphrase, signs a new one')
          removePending(dir)
        } else if (!await this.finish(identity, change)) {
          return
        }
        completed++
        this.logger?.info({ name, did: identity.did, operation: change.operation, version: identity.version, sequence: identity.sequence }, 'pending change completed')
      }).catch((err: Error) => {
        this.logger?.warn({ name, err: err.message }, 'a pending change could not be completed yet; it is tried again later')
      })
    }
    return completed
  }

  /**
   * A pending change, checked: its identity.json is valid and names this identity, its record is signed for the
   * DID and points at its head with its sequence, its block is that head. Undefined when identity.json is already
   * past it. Throws when it does not check out.
   */
  private async checkPending (name: string, change: PendingChange | undefined): Promise<{ identity: IdentityFile, change: PendingChange, expired: boolean } | undefined> {
    if (change === undefined) return undefined
    const parsed = identitySchema.safeParse(change.identity)
    if (!parsed.success || parsed.data.name !== name) throw new Error('its identity file is not valid')
    const identity = parsed.data
    // A damaged identity.json does not void a pending change: its signed record proves it, and completing it
    // writes a good identity.json.
    let current: IdentityFile | undefined
    try {
      current = existsSync(this.identityPath(name)) ? this.read(name) : undefined
    } catch {
      current = undefined
    }
    if (current !== undefined && current.did !== identity.did) throw new Error('it names another DID')
    const did = parseDid(identity.did)
    const record = await validateRecord(did, change.record, this.clock(), { allowExpired: true })
    if (record.value !== `/ipfs/${identity.head}` || record.sequence !== BigInt(identity.sequence)) throw new Error('its record does not point at its version')
    if (change.block !== undefined) {
      if (change.block.cid !== identity.head) throw new Error('its block is not its version')
      const node = await decodeVersionNode(CID.parse(change.block.cid), change.block.bytes, identity.did)
      if (node.node.version !== identity.version) throw new Error('its block is not its version')
    } else if (current?.head !== identity.head) {
      throw new Error('it republishes a version that is not the current one')
    }
    const ahead = current === undefined || identity.version > current.version ||
      (identity.head === current.head && BigInt(identity.sequence) >= BigInt(current.sequence))
    return ahead ? { identity, change, expired: record.validUntilMs <= this.clock() } : undefined
  }

  /** Calls the commit step hook; a hook that throws does not stop the change. */
  private step (step: CommitStep, operation: CommitOperation): void {
    try {
      this.onCommitStep?.(step, operation)
    } catch {}
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
    const known = this.files.get(name)
    if (known !== undefined) return known
    const damaged = this.damagedFiles.get(name)
    if (damaged !== undefined) throw new IdentityError('damaged_identity', damaged.message)
    let file: IdentityFile
    try {
      file = readIdentityAt(this.dir, name)
    } catch (err) {
      if ((err as IdentityError).reason === 'unknown_identity') throw err
      const path = this.identityPath(name)
      const why = (err as IdentityError).reason === 'corrupt_identity' ? 'not a valid identity file' : (err as Error).message
      const message = `${path} is damaged (${why}): the identity "${name}" is stopped, the others run on. Restore it from a ` +
        `backup: \`ipid keys import FILE\` with a file \`ipid keys export ${name} FILE\` wrote puts its identity.json and keys back`
      this.damagedFiles.set(name, { name, path, message })
      this.logger?.error({ name, path }, message)
      throw new IdentityError('damaged_identity', message, { cause: err })
    }
    this.files.set(name, file)
    return file
  }

  /** Writes identity.json (atomically, 0600) and keeps it as the identity's current file. */
  private write (file: IdentityFile): void {
    writeFileAtomic(this.identityPath(file.name), JSON.stringify(file, null, 2))
    this.damagedFiles.delete(file.name)
    this.files.set(file.name, file)
    if (this.names !== undefined && !this.names.includes(file.name)) this.names = [...this.names, file.name].sort()
  }

  /**
   * Operations on one identity run one at a time: each reads the head the previous one wrote. A full disk is
   * reported as such (`disk_full`): operations fail on it before anything is committed.
   */
  private async exclusive<T> (name: string, task: () => Promise<T>): Promise<T> {
    const before = this.locks.get(name) ?? Promise.resolve()
    const run = before.catch(() => {}).then(task)
    this.locks.set(name, run)
    try {
      return await run
    } catch (err) {
      if (!isDiskFull(err)) throw err
      throw new IdentityError('disk_full', `the disk of the data directory is full: the change to ${name} was not applied; free some space and try again`, { cause: err })
    } finally {
      if (this.locks.get(name) === run) this.locks.delete(name)
    }
  }

  private identityDir (name: string): string { return join(this.dir, name) }
  private identityPath (name: string): string { return join(this.dir, name, 'identity.json') }
  private keyDir (name: string): string { return join(this.dir, name, 'keys') }
  private keyPath (name: string, file: string): string { return join(this.keyDir(name), file) }
}

/**
 * `<dataDir>/identities/<name>/identity.json`, read and checked. The daemon keeps it in memory (Identities); the
 * CLI, on the daemon's machine, reads it to find a key file (`ipid keys export --key`).
 */
export function readIdentityFile (dataDir: string, name: string): IdentityFile {
  return readIdentityAt(join(dataDir, IDENTITIES_DIR), name)
}

/** The path of one of an identity's key files as identity.json names it: a plain name in its keys folder, never a path. */
export function keyFilePath (dataDir: string, name: string, file: string): string {
  if (!IDENTITY_NAME_RE.test(name) || !KEY_FILE_NAME_RE.test(file)) throw new IdentityError('corrupt_identity', `"${file}" is not a key file name`)
  return join(dataDir, IDENTITIES_DIR, name, 'keys', file)
}

function readIdentityAt (dir: string, name: string): IdentityFile {
  const path = join(dir, name, 'identity.json')
  if (!IDENTITY_NAME_RE.test(name) || !existsSync(path)) throw new IdentityError('unknown_identity', `no identity named "${name}"`)
  const parsed = identitySchema.safeParse(safeJson(readFileSync(path, 'utf8')))
  if (!parsed.success) throw new IdentityError('corrupt_identity', `${path} is not a valid identity file`)
  return parsed.data
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

/** The key file of the held update key that signs the next version. */
function heldSignerFile (file: IdentityFile): string {
  const signerFile = file.keys.next ?? file.keys.update
  if (signerFile === undefined) throw new IdentityError('corrupt_identity', `${file.name} names no update key`)
  return signerFile
}

/** The identity, if its update keys are here and it can still change. */
function checkHeld (file: IdentityFile): IdentityFile {
  if (file.deactivated) throw new IdentityError('deactivated', `${file.name} is deactivated: it has no update keys any more`)
  if (file.keys.cold !== undefined) throw new IdentityError('cold', `the update keys of ${file.name} are already in cold storage (since ${file.keys.cold.since})`)
  return file
}

/**
 * Checks a cold update key before anything is unlocked: it is the key that signs next, and the next key (when
 * one is needed) is an Ed25519 Multikey other than the signer. Returns the next key's Multikey.
 */
function checkColdUpdateKey (name: string, cold: NonNullable<IdentityFile['keys']['cold']>, updateKey: ColdUpdateKey | undefined, needsNext: boolean): string | undefined {
  if (updateKey === undefined) {
    throw new IdentityError('update_key_required', `the update keys of ${name} are in cold storage: give the cold key file (--update-key FILE)`)
  }
  const publicKey = (updateKey.signer as { publicKey?: unknown } | null)?.publicKey
  if (publicKey !== cold.signer) {
    throw new IdentityError('wrong_update_key', `that is not the update key that signs the next version of ${name} (${cold.signer}): an older copy of the cold key file?`)
  }
  if (!needsNext) return undefined
  const next = updateKey.next
  if (next === undefined) throw new IdentityError('next_key_required', `${name} commits to its next update key in every version: name the new key's public key (updateKey.next)`)
  if (multikeyToEd25519(next) === undefined || next === cold.signer) throw new IdentityError('bad_next_key', 'the next update key must be a new Ed25519 Multikey')
  return next
}

/** The key about to sign must be one the head allows: committed to (pre-rotation) or listed. */
async function checkSigner (name: string, head: DecodedVersionNode, multikey: string): Promise<void> {
  const commitments = head.node.nextUpdateKeyHashes
  const allowed = commitments === undefined ? head.node.updateKeys.includes(multikey) : commitments.includes(await updateKeyCommitment(multikey))
  if (!allowed) throw new IdentityError('wrong_update_key', `the update key given is not one that may sign the next version of ${name}`)
}

function countFiles (file: IdentityFile): number {
  const numbers = [file.keys.update ?? '', file.keys.next ?? ''].map(f => Number(/^update-(\d+)\.key$/.exec(f)?.[1] ?? 0))
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
