/**
 * Issue 12, "Unattended operation, visible", against the real daemon process:
 * - restarted without a passphrase, the daemon cannot re-sign its identities' records, and says so: in its
 *   banner and log, in `ipid status` and in `/metrics` (which identities are locked, and when their records
 *   expire); a passphrase file (`IPIDD_PASSPHRASE_FILE`, `daemon --passphrase-file`) unlocks them;
 * - creating a second identity keeps DIDAuth proving the first (a peer running `ipid auth` against the daemon
 *   still gets the first DID), `ipid init --didauth` moves it to the new one, and so does answering yes when
 *   `ipid init` asks on a terminal; the banner and `ipid status` name the DIDAuth identity and whether it is unlocked.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_RECORD_VALIDITY_MS } from '../../src/ipns/record.ts'
import { IPID_MAIN, runIpid, spawnDaemon } from '../helpers/cli.ts'
import { daemonSession } from '../helpers/daemon-session.ts'
import { runInPty } from '../helpers/pty.ts'
import type { IpidRun } from '../helpers/cli.ts'

const PASS = 'unattended operation passphrase'
/** A restarted daemon's figures are read within this long of the record being signed. */
const SLACK_MS = 10 * 60_000
/** How long `ipid init` on a terminal may take to ask (it reads the daemon's status first). */
const PTY_TIMEOUT_MS = 30_000
/** Starts, handshakes and resolves on a busy machine. */
const E2E_TIMEOUT_MS = 180_000

const dir = mkdtempSync(join(tmpdir(), 'ipidd-unattended-'))
/** A person's shell: no passphrase set; cheap key derivation (tests only). */
const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_PASSPHRASE_FILE', 'IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'IPIDD_AUTH_IDENTITY']) delete env[name]
const { start, stop, track, killAll } = daemonSession(dir, env)

afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
})

async function ipid (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<IpidRun> {
  return runIpid(args, dir, { ...env, ...extraEnv })
}

async function json (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<any> {
  const run = await ipid([...args, '--json'], extraEnv)
  expect(run.code, `${run.args.join(' ')}: ${run.stderr}`).toBe(0)
  return JSON.parse(run.stdout)
}

async function metrics (url: string): Promise<string> {
  const answer = await fetch(`${url}/metrics`)
  expect(answer.status).toBe(200)
  return answer.text()
}

function gauge (text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('a daemon restarted without its passphrase', () => {
  it('says which identities are locked and when their records expire: banner, log, ipid status, /metrics', async () => {
    const dataDir = join(dir, 'locked')
    let daemon = await start(dataDir, [], { IPIDD_PASSPHRASE: PASS })
    const alice = await json(['init', '--name', 'alice', '--data-dir', dataDir], { IPIDD_PASSPHRASE: PASS })
    const signedAt = Date.now()
    const unlocked = await json(['status', '--data-dir', dataDir])
    expect(unlocked.identities).toMatchObject({ held: 1, locked: [] })
    await stop(daemon)

    daemon = await start(dataDir)
    const { stdout, stderr } = daemon.output()
    expect(stdout).toMatch(/locked\s+alice: its record is not re-signed and expires \d{4}-\d\d-\d\dT/)
    expect(stdout).toContain('IPIDD_PASSPHRASE_FILE')
    expect(stderr).toMatch(/"msg":"identities locked: their records are not re-signed/)

    const status = await json(['status', '--data-dir', dataDir])
    expect(status.identities.locked).toEqual(['alice'])
    const expiresAtMs = Date.parse(status.identities.earliestExpiry.expiresAt)
    expect(status.identities.earliestExpiry).toMatchObject({ name: 'alice', did: alice.did })
    expect(Math.abs(expiresAtMs - (signedAt + DEFAULT_RECORD_VALIDITY_MS))).toBeLessThan(SLACK_MS)
    const text = await ipid(['status', '--data-dir', dataDir])
    expect(text.stdout).toMatch(/locked\s+alice \(records not re-signed/)
    expect(text.stdout).toMatch(/records\s+the first expires \d{4}-\d\d-\d\dT[\d:.]+Z \(alice\)/)

    const figures = await metrics(await daemon.ready)
    expect(gauge(figures, 'ipidd_identity_locked', '{identity="alice"}')).toBe(1)
    expect(gauge(figures, 'ipidd_own_record_expiry_timestamp_seconds', '{identity="alice"}')).toBe(Math.floor(expiresAtMs / 1000))
    expect(gauge(figures, 'ipidd_own_records_earliest_expiry_timestamp_seconds', '{identity="alice"}')).toBe(Math.floor(expiresAtMs / 1000))
    await stop(daemon)

    // A passphrase file, as a container or service manager provides it: by the environment, then by the flag.
    const file = join(dir, 'passphrase')
    writeFileSync(file, `${PASS}\n`)
    chmodSync(file, 0o600)
    for (const [args, extraEnv] of [[[], { IPIDD_PASSPHRASE_FILE: file }], [['--passphrase-file', file], {}]] as const) {
      daemon = await start(dataDir, [...args], extraEnv)
      expect(daemon.output().stdout).not.toMatch(/locked\s+alice/)
      expect((await json(['status', '--data-dir', dataDir])).identities.locked).toEqual([])
      expect(gauge(await metrics(await daemon.ready), 'ipidd_identity_locked', '{identity="alice"}')).toBe(0)
      await stop(daemon)
    }

    // A passphrase file others can read is refused before anything starts, as `ipid` refuses it.
    chmodSync(file, 0o644)
    const refused = spawnDaemon(['--data-dir', dataDir, '--passphrase-file', file], { cwd: dir, env })
    track(refused.child)
    expect(await refused.exited).toBe(2)
    expect(refused.output().stderr).toContain('can be read by other users')
  }, E2E_TIMEOUT_MS)
})

describe('DIDAuth with more than one identity', () => {
  it('keeps proving the first identity when a second is made, moves with init --didauth, and says which', async () => {
    const dataA = join(dir, 'didauth-a')
    const dataB = join(dir, 'didauth-b')
    let a = await start(dataA, [], { IPIDD_PASSPHRASE: PASS })
    const alice = await json(['init', '--name', 'alice', '--data-dir', dataA], { IPIDD_PASSPHRASE: PASS })
    const bob = await json(['init', '--name', 'bob', '--data-dir', dataA], { IPIDD_PASSPHRASE: PASS })
    // A peer asks who this daemon is: still alice.
    const [addressA] = (await json(['status', '--data-dir', dataA, '--addresses'])) as string[]
    const b = await start(dataB, ['--bootstrap', addressA!])
    expect((await json(['auth', addressA!, '--data-dir', dataB])).peer.did).toBe(alice.did)
    expect(bob.didauth).toEqual({ identity: 'alice', unlocked: true })
    expect((await json(['status', '--data-dir', dataA])).didauth).toMatchObject({ identity: 'alice', did: alice.did, unlocked: true })
    const dave = await ipid(['init', '--name', 'dave', '--data-dir', dataA], { IPIDD_PASSPHRASE: PASS })
    expect(dave.stdout).toContain('DIDAuth still proves alice')

    const carol = await json(['init', '--name', 'carol', '--didauth', '--data-dir', dataA], { IPIDD_PASSPHRASE: PASS })
    expect(carol.didauth).toEqual({ identity: 'carol', unlocked: true })
    expect((await json(['auth', addressA!, '--data-dir', dataB])).peer.did).toBe(carol.did)
    await stop(b)

    // On a terminal, a later init asks which identity to prove; y moves DIDAuth to the new one.
    const asked = runInPty(`'${process.execPath}' '${IPID_MAIN}' init --name erin --data-dir '${dataA}'`, { cwd: dir, env: { ...env, IPIDD_PASSPHRASE: PASS } })
    await asked.waitFor('This daemon proves carol to peers over DIDAuth. Prove erin instead? [y/N]', PTY_TIMEOUT_MS)
    asked.type('y')
    expect(await asked.exited, asked.output()).toBe(0)
    expect(asked.output()).toContain('DIDAuth now proves erin')
    expect((await json(['status', '--data-dir', dataA])).didauth).toMatchObject({ identity: 'erin', source: 'chosen', unlocked: true })
    await stop(a)

    a = await start(dataA)
    expect(a.output().stdout).toMatch(/DIDAuth\s+erin \(locked: start with IPIDD_PASSPHRASE/)
    expect((await json(['status', '--data-dir', dataA])).didauth).toMatchObject({ identity: 'erin', unlocked: false })
    expect((await ipid(['status', '--data-dir', dataA])).stdout).toMatch(/DIDAuth\s+erin, locked/)
    await stop(a)

    // A data directory from before the choice was written down, holding several identities: DIDAuth proves none,
    // says so, and `ipid didauth NAME` chooses one (kept across restarts).
    rmSync(join(dataA, 'didauth.json'))
    a = await start(dataA, [], { IPIDD_PASSPHRASE: PASS })
    expect(a.output().stdout).toMatch(/DIDAuth\s+none: several identities and none chosen \(ipid didauth NAME\)/)
    expect((await json(['didauth', '--data-dir', dataA]))).toMatchObject({ identity: null, source: 'none' })
    expect(await json(['didauth', 'alice', '--data-dir', dataA])).toMatchObject({ identity: 'alice', did: alice.did, source: 'chosen', unlocked: true })
    const unknown = await ipid(['didauth', 'nobody', '--data-dir', dataA])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no identity named "nobody"')
    await stop(a)
    a = await start(dataA)
    expect(a.output().stdout).toMatch(/DIDAuth\s+alice \(locked/)
    await stop(a)
  }, E2E_TIMEOUT_MS)
})
