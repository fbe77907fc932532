/**
 * What changed between two versions of a DID document: the audit log a user reads after a key compromise
 * ("which version added that key, and who signed it?"). Pure: compares two decoded version nodes.
 */
import type { DidDocument, VerificationMethod } from './document.ts'
import type { DecodedVersionNode } from './version-node.ts'

/** Verification relationships whose membership is reported per key. */
export const RELATIONSHIPS = ['authentication', 'assertionMethod', 'keyAgreement', 'capabilityInvocation', 'capabilityDelegation'] as const

export interface KeyChange {
  id: string
  /** Relationships the key is in (after the change for added keys, before it for removed ones). */
  purposes: string[]
  type?: string
  /** The public key (multibase, or the JWK as JSON): what a verifier checks signatures with. */
  publicKey?: string
}

export interface VersionChanges {
  keysAdded: KeyChange[]
  keysRemoved: KeyChange[]
  /** Keys whose id stayed but whose public key changed (a rotation in place). */
  keysRotated: KeyChange[]
  /** Keys kept whose relationships changed. */
  keysRepurposed: KeyChange[]
  servicesAdded: string[]
  servicesRemoved: string[]
  /** Services kept whose type or endpoint changed. */
  servicesChanged: string[]
  /** The update keys (or their pre-rotation commitments) changed: who may sign the next version. */
  updateKeysChanged: boolean
  deactivated: boolean
}

export interface HistoryEntry {
  versionId: string
  version: number
  created: string
  updated: string
  deactivated: boolean
  /** Multikey of the key that signed this version (the root key for version 1). */
  signer: string
  changes: VersionChanges
}

/** Changes from `prev` (undefined for version 1: everything is added) to `next`. */
export function describeChanges (prev: DecodedVersionNode | undefined, next: DecodedVersionNode): VersionChanges {
  const before = keysOf(prev?.node.document)
  const after = keysOf(next.node.document)
  const keysAdded = [...after.values()].filter(k => !before.has(k.id))
  const keysRemoved = [...before.values()].filter(k => !after.has(k.id))
  const keysRotated = [...after.values()].filter(k => {
    const old = before.get(k.id)
    return old !== undefined && old.publicKey !== k.publicKey
  })
  const keysRepurposed = [...after.values()].filter(k => {
    const old = before.get(k.id)
    return old !== undefined && old.purposes.join(',') !== k.purposes.join(',')
  })
  const servicesBefore = servicesOf(prev?.node.document)
  const servicesAfter = servicesOf(next.node.document)
  const updateKeys = (n: DecodedVersionNode | undefined): string => JSON.stringify([n?.node.updateKeys ?? [], n?.node.nextUpdateKeyHashes ?? []])
  return {
    keysAdded,
    keysRemoved,
    keysRotated,
    keysRepurposed,
    servicesAdded: [...servicesAfter.keys()].filter(id => !servicesBefore.has(id)),
    servicesRemoved: [...servicesBefore.keys()].filter(id => !servicesAfter.has(id)),
    servicesChanged: [...servicesAfter.keys()].filter(id => servicesBefore.has(id) && servicesBefore.get(id) !== servicesAfter.get(id)),
    updateKeysChanged: prev === undefined || updateKeys(prev) !== updateKeys(next),
    deactivated: next.node.deactivated && prev?.node.deactivated !== true
  }
}

/** History entries, newest first, for a chain given newest first. */
export function describeHistory (chain: DecodedVersionNode[]): HistoryEntry[] {
  return chain.map((node, i) => ({
    versionId: node.cid.toString(),
    version: node.node.version,
    created: node.node.created,
    updated: node.node.updated,
    deactivated: node.node.deactivated,
    signer: node.node.signer,
    changes: describeChanges(chain[i + 1], node)
  }))
}

function keysOf (document: DidDocument | undefined): Map<string, KeyChange> {
  const keys = new Map<string, KeyChange>()
  if (document === undefined) return keys
  const absolute = (id: string): string => id.startsWith('#') ? `${document.id}${id}` : id
  const add = (method: VerificationMethod | string, purpose?: string): void => {
    const id = absolute(typeof method === 'string' ? method : method.id)
    const key = keys.get(id) ?? { id, purposes: [] }
    if (purpose !== undefined && !key.purposes.includes(purpose)) key.purposes.push(purpose)
    if (typeof method !== 'string') {
      key.type ??= method.type
      key.publicKey ??= method.publicKeyMultibase ?? (method.publicKeyJwk === undefined ? undefined : JSON.stringify(method.publicKeyJwk))
    }
    keys.set(id, key)
  }
  for (const method of document.verificationMethod ?? []) add(method)
  for (const relationship of RELATIONSHIPS) {
    for (const entry of document[relationship] ?? []) add(entry, relationship)
  }
  for (const key of keys.values()) key.purposes.sort()
  return keys
}

function servicesOf (document: DidDocument | undefined): Map<string, string> {
  const services = new Map<string, string>()
  for (const service of document?.service ?? []) {
    const id = service.id.startsWith('#') ? `${document!.id}${service.id}` : service.id
    services.set(id, JSON.stringify([service.type, service.serviceEndpoint]))
  }
  return services
}
