/**
 * Issue 12, "Crash-safe changes", on a full disk: the real daemon process runs on a small tmpfs of the test's
 * own, which the test fills. `/readyz` reports the data directory that takes no writes; a change says that the
 * disk is full and that it was not applied (exit 1), and nothing of it is left half done (the owner, the daemon
 * and the data directory still show the old version, no pending change, no temporary file). With space freed,
 * the same change succeeds. Temporary files of writes cut short by a crash are removed at the next start.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PENDING_FILE_NAME } from '../../src/identity/pending.ts'
import { runIpid, spawnDaemon } from '../helpers/cli.ts'
import { fill, mountTmpfs, tmpfsSupport, unmount } from '../helpers/tmpfs.ts'
import type { DaemonProcess, IpidRun } from '../helpers/cli.ts'

const PASS = 'disk full passphrase'
/** Room for the daemon's stores and one identity, small enough to fill in a moment. */
const TMPFS_BYTES = 32 * 1024 * 1024

const supported = tmpfsSupport()
let dir: string
let dataDir: string
let env: NodeJS.ProcessEnv
let daemon: DaemonProcess | undefined
let url = ''
let mounted = false

async function ipid (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<IpidRun> {
  return runIpid([...args, '--json'], dir, { ...env, ...extra })
}

async function start (): Promise<void> {
  daemon = spawnDaemon(['--data-dir', dataDir], { cwd: dir, env })
  url = await daemon.ready
}

async function readiness (): Promise<{ status: number, checks: Record<string, string> }> {
  const response = await fetch(`${url}/readyz`)
  return { status: response.status, checks: (await response.json() as { checks: Record<string, string> }).checks }
}

/** Every file below the identities folder whose name ends in .tmp (left by a write), or is a pending change. */
function leftovers (): string[] {
  const root = join(dataDir, 'identities')
  return (readdirSync(root, { recursive: true }) as string[]).filter(f => f.endsWith('.tmp') || f.endsWith(PENDING_FILE_NAME))
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipidd-disk-full-'))
  dataDir = join(dir, 'data')
  env = { ...process.env, HOME: dir, IPIDD_DATA: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
  for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_TEST_CRASH_AT']) delete env[name]
})

afterAll(async () => {
  daemon?.child.kill('SIGKILL')
  await daemon?.exited
  if (mounted) unmount(dataDir)
  rmSync(dir, { recursive: true, force: true })
})

describe('a daemon whose disk is full', () => {
  it.runIf(supported.ok)('says so, applies nothing of a change, and applies it once there is room again (tmpfs)', { timeout: 180_000 }, async () => {
    mountTmpfs(dataDir, TMPFS_BYTES)
    mounted = true
    await start()
    const made = await ipid(['init', '--name', 'alice'], { IPIDD_PASSPHRASE: PASS })
    expect(made.code, made.stderr).toBe(0)
    const did = JSON.parse(made.stdout).did as string
    expect(await readiness()).toEqual({ status: 200, checks: { cache: 'ok', ipfs: 'ok', dataDir: 'ok' } })

    const filler = join(dataDir, 'filler')
    expect(fill(filler)).toBeGreaterThan(0)
    const full = await readiness()
    expect(full.status).toBe(503)
    expect(full.checks.dataDir).toBe('failed')

    const refused = await ipid(['service', 'add', 'inbox', 'ActivityPubInbox', 'https://social.example/alice/inbox', '--name', 'alice'], { IPIDD_PASSPHRASE: PASS })
    expect(refused.code, refused.stderr).toBe(1)
    expect(JSON.parse(refused.stdout).error.reason).toBe('disk_full')
    expect(refused.stderr).toMatch(/disk .*full/)
    expect(refused.stderr).toContain('not applied')
    const shown = await ipid(['show', 'alice'])
    expect(shown.code, shown.stderr).toBe(0)
    expect(JSON.parse(shown.stdout)).toMatchObject({ version: 1, services: expect.not.arrayContaining([expect.objectContaining({ fragment: 'inbox' })]) })
    const resolved = await (await fetch(`${url}/1.0/identifiers/${did}`, { headers: { accept: 'application/did-resolution' } })).json() as { didDocumentMetadata: { versionId: string } }
    expect(resolved.didDocumentMetadata.versionId).toBe(JSON.parse(shown.stdout).versionId)
    expect(leftovers()).toEqual([])

    rmSync(filler)
    expect((await readiness()).status).toBe(200)
    const added = await ipid(['service', 'add', 'inbox', 'ActivityPubInbox', 'https://social.example/alice/inbox', '--name', 'alice'], { IPIDD_PASSPHRASE: PASS })
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout)).toMatchObject({ version: 2 })

    // Writes cut short by a crash leave their temporary files (`<file>.<pid>.<8 hex>.tmp`): the next start removes them.
    daemon!.child.kill('SIGKILL')
    await daemon!.exited
    const planted = [
      join(dataDir, 'identities', 'alice', 'identity.json.4242.0badc0de.tmp'),
      join(dataDir, 'identities', 'alice', 'keys', 'update-9.key.4242.0badc0de.tmp'),
      join(dataDir, 'admin.token.4242.0badc0de.tmp')
    ]
    for (const path of planted) writeFileSync(path, '{"half":', { mode: 0o600 })
    await start()
    expect(planted.filter(path => existsSync(path))).toEqual([])
    expect(leftovers()).toEqual([])
    const after = await ipid(['show', 'alice'])
    expect(JSON.parse(after.stdout)).toMatchObject({ version: 2 })
  })
})
