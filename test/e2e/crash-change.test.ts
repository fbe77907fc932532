/**
 * Issue 12, "Crash-safe changes": the real daemon process A is killed (SIGKILL, by itself, at a test-only crash
 * point: IPIDD_TEST_CRASH_AT) at each step of a change — a key rotation, a service added, a deactivation — while
 * `ipid` waits for its answer. `ipid` says the answer was lost (exit 1, check with `ipid show`), not that no
 * daemon runs (exit 3). A is restarted without any passphrase; then the owner (`ipid show`), A's resolver and a
 * second daemon B agree on one version — the old one when A died before the change was kept durably
 * (`prepared`), the new one at every later step — within the keeper's first round, and no pending change is left.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEEPER_JITTER, KEEPER_TICK_MS } from '../../src/cache/keeper.ts'
import { MIN_KEEPER_INTERVAL_MS, loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { COMMIT_STEPS, PENDING_FILE_NAME } from '../../src/identity/pending.ts'
import { createLogger } from '../../src/log.ts'
import { runIpid, spawnDaemon } from '../helpers/cli.ts'
import { eventually } from '../helpers/network.ts'
import type { Daemon } from '../../src/daemon.ts'
import type { CommitOperation, CommitStep } from '../../src/identity/pending.ts'
import type { DaemonProcess, IpidRun } from '../helpers/cli.ts'

const PASS = 'crash-safe change passphrase'
/**
 * The keeper's first round after a start comes within a minute, jittered, and is noticed at the next tick; the
 * round itself and B's lookup get a margin on a busy machine. Every daemon must agree again within this.
 */
const KEEPER_FIRST_ROUND_MS = MIN_KEEPER_INTERVAL_MS * (1 + KEEPER_JITTER) + KEEPER_TICK_MS + 30_000

let dir: string
let dataDir: string
let env: NodeJS.ProcessEnv
let b: Daemon
let a: DaemonProcess | undefined
let aUrl = ''

async function ipid (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<IpidRun> {
  return runIpid([...args, '--json'], dir, { ...env, ...extra })
}

/** A, with no passphrase (it cannot sign anything itself), dying at `crashAt` when given. */
async function startA (crashAt?: string): Promise<void> {
  a = spawnDaemon(['--data-dir', dataDir, '--bootstrap', b.node!.multiaddrs()[0]!], { cwd: dir, env: { ...env, ...(crashAt === undefined ? {} : { IPIDD_TEST_CRASH_AT: crashAt }) } })
  aUrl = await a.ready
}

interface Seen { versionId: string, deactivated: boolean }

async function owner (name: string): Promise<Seen & { version: number }> {
  const shown = await ipid(['show', name])
  expect(shown.code, shown.stderr).toBe(0)
  const detail = JSON.parse(shown.stdout) as { versionId: string, version: number, deactivated: boolean }
  return { versionId: detail.versionId, version: detail.version, deactivated: detail.deactivated }
}

function seen (result: { didDocumentMetadata: Record<string, unknown> }): Seen {
  return { versionId: result.didDocumentMetadata.versionId as string, deactivated: result.didDocumentMetadata.deactivated === true }
}

async function throughA (did: string): Promise<Seen> {
  const response = await fetch(`${aUrl}/1.0/identifiers/${did}`, { headers: { accept: 'application/did-resolution' } })
  return seen(await response.json() as { didDocumentMetadata: Record<string, unknown> })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ipidd-crash-change-'))
  dataDir = join(dir, 'a')
  env = { ...process.env, HOME: dir, IPIDD_DATA: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
  for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_TEST_CRASH_AT']) delete env[name]
  const bDir = join(dir, 'b')
  b = await startDaemon(loadConfig({ env: { HOME: bDir }, flags: { dataDir: bDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } }), { logger: createLogger('silent') })
})

afterAll(async () => {
  a?.child.kill('SIGKILL')
  await b?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('a daemon killed at each step of a change', () => {
  it('completes or rolls back the change at restart: the owner, the daemon and a second daemon agree on one version', { timeout: 1_200_000 }, async () => {
    await startA()
    const dids = new Map<string, string>()
    const names = ['alice', ...COMMIT_STEPS.map(step => `gone-${step}`)]
    for (const name of names) {
      const made = await ipid(['init', '--name', name], { IPIDD_PASSPHRASE: PASS })
      expect(made.code, made.stderr).toBe(0)
      const did = JSON.parse(made.stdout).did as string
      dids.set(name, did)
      // B resolves it once, so that it holds version 1 and follows the name.
      let last: unknown
      await eventually(async () => {
        const result = await b.resolver.resolve(did)
        last = result.didResolutionMetadata
        return result.didDocumentMetadata.versionId === undefined ? undefined : true
      }, 30_000).catch(() => { expect.fail(`B could not resolve ${name}: ${JSON.stringify(last)}`) })
    }

    const cases: Array<{ operation: CommitOperation, step: CommitStep, name: string, args: string[] }> = [
      ...COMMIT_STEPS.map(step => ({ operation: 'rotate-key' as const, step, name: 'alice', args: ['key', 'rotate', 'alice'] })),
      ...COMMIT_STEPS.map(step => ({ operation: 'add-service' as const, step, name: 'alice', args: ['service', 'add', `inbox-${step}`, 'ActivityPubInbox', `https://social.example/${step}/inbox`, '--name', 'alice'] })),
      ...COMMIT_STEPS.map(step => ({ operation: 'deactivate' as const, step, name: `gone-${step}`, args: ['deactivate', `gone-${step}`, '--yes'] }))
    ]
    const outcomes: string[] = []
    for (const c of cases) {
      const did = dids.get(c.name)!
      const before = await owner(c.name)
      a!.child.kill('SIGTERM')
      await a!.exited
      await startA(`${c.operation}:${c.step}`)

      const cut = await ipid(c.args, { IPIDD_PASSPHRASE: PASS })
      await a!.exited
      expect(a!.child.signalCode, `${c.operation}:${c.step}`).toBe('SIGKILL')
      // The request reached the daemon: its answer was lost, which is not "no daemon runs".
      expect(cut.code, `${c.operation}:${c.step} ${cut.stderr}`).toBe(1)
      expect(JSON.parse(cut.stdout).error.reason).toBe('answer_lost')
      expect(cut.stderr).toContain('ipid show')

      await startA()
      const started = Date.now()
      const after = await owner(c.name)
      const applied = c.step !== 'prepared'
      expect(after.version, `${c.operation}:${c.step}`).toBe(applied ? before.version + 1 : before.version)
      if (!applied) expect(after.versionId).toBe(before.versionId)
      expect(after.deactivated).toBe(applied && c.operation === 'deactivate')
      const agreed = { versionId: after.versionId, deactivated: after.deactivated }
      expect(await throughA(did), `A after ${c.operation}:${c.step}`).toEqual(agreed)
      let fromB: Seen | undefined
      await eventually(async () => {
        fromB = seen(await b.resolver.resolve(did, { noCache: true }))
        return fromB.versionId === agreed.versionId && fromB.deactivated === agreed.deactivated ? true : undefined
      }, KEEPER_FIRST_ROUND_MS).catch(() => {
        expect(fromB, `B after ${c.operation}:${c.step} (before: ${outcomes.join('; ')})`).toEqual(agreed)
      })
      expect(existsSync(join(dataDir, 'identities', c.name, PENDING_FILE_NAME))).toBe(false)
      outcomes.push(`${c.operation}:${c.step} → version ${after.version} in ${Date.now() - started} ms`)
    }
    // A deactivation that was rolled back (before anything was kept) can be made again.
    const again = await ipid(['deactivate', 'gone-prepared', '--yes'], { IPIDD_PASSPHRASE: PASS })
    expect(again.code, again.stderr).toBe(0)
    expect(outcomes).toHaveLength(cases.length)
  })
})
