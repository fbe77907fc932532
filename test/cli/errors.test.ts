/**
 * How `ipid` fails, with the real entry point against a real daemon: a wrong passphrase, an unknown identity,
 * an unreachable daemon, a malformed DID, a missing or stale update key file, a confirmation not given or
 * typed wrong, a bad option. Each gives its documented exit code (README, "Exit codes") and exactly one line on
 * stderr that says what to do next — no stack trace unless --debug — and, with --json, one JSON document
 * `{ error: { exitCode, reason, message } }` on stdout.
 */
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runInPty } from '../helpers/pty.ts'
import { runIpid } from '../helpers/cli.ts'
import type { IpidRun } from '../helpers/cli.ts'

const main = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.ts')
const PASS = 'errors test passphrase'
const dir = mkdtempSync(join(tmpdir(), 'ipidd-cli-errors-'))
const dataDir = join(dir, 'data')
const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, IPIDD_DATA: dataDir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'NO_COLOR']) delete env[name]

let daemon: ReturnType<typeof spawn>
let daemonExited: Promise<number | null>
let aliceDid: string
const coldFile = join(dir, 'bob.update-keys.json')

type Run = IpidRun

async function ipid (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runIpid(args, dir, { ...env, ...extraEnv })
}

/** The failure is one line naming `words`, no stack; with --json exactly `{ error }` with the reason on stdout, else nothing there. */
function expectFailure (run: Run, code: number, reason: string, words: RegExp): void {
  expect(run.code, run.stderr).toBe(code)
  const lines = run.stderr.split('\n').filter(l => l !== '')
  expect(lines, run.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^ipid: /)
  expect(lines[0]).toMatch(words)
  expect(run.stderr).not.toMatch(/\n\s+at /)
  if (run.args.includes('--json')) {
    expect(JSON.parse(run.stdout), run.stdout).toEqual({ error: { exitCode: code, reason, message: lines[0]!.replace(/^ipid: /, '') } })
  } else {
    expect(run.stdout).toBe('')
  }
}

beforeAll(async () => {
  daemon = spawn(process.execPath, [main, 'daemon', '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  daemonExited = new Promise(resolve => daemon.once('exit', resolve))
  let printed = ''
  await new Promise<void>((resolve, reject) => {
    daemon.stdout!.on('data', (d: Buffer) => {
      printed += d.toString()
      if (printed.includes('ready; press Ctrl-C')) resolve()
    })
    void daemonExited.then(code => { reject(new Error(`the daemon exited with ${code}`)) })
  })
  const alice = await ipid(['init', '--name', 'alice', '--json'], { IPIDD_PASSPHRASE: PASS })
  expect(alice.code, alice.stderr).toBe(0)
  aliceDid = JSON.parse(alice.stdout).did
  const bob = await ipid(['init', '--name', 'bob', '--json'], { IPIDD_PASSPHRASE: PASS })
  expect(bob.code, bob.stderr).toBe(0)
  const cold = await ipid(['keys', 'cold', 'bob', '--out', coldFile, '--json'], { IPIDD_PASSPHRASE: PASS })
  expect(cold.code, cold.stderr).toBe(0)
  expect(JSON.parse(cold.stdout)).toMatchObject({ name: 'bob', file: coldFile, coldSigner: expect.stringMatching(/^z6Mk/) })
}, 60_000)

afterAll(async () => {
  daemon?.kill('SIGTERM')
  await daemonExited
  rmSync(dir, { recursive: true, force: true })
})

describe('ipid failures', { timeout: 30_000 }, () => {
  it('wrong passphrase: exit 1, and nothing changed', async () => {
    const wrong = await ipid(['key', 'rotate', 'alice', '--json'], { IPIDD_PASSPHRASE: 'not the passphrase' })
    expectFailure(wrong, 1, 'wrong_passphrase', /wrong passphrase.*try again/)
    const shown = await ipid(['show', 'alice', '--json'])
    expect(JSON.parse(shown.stdout)).toMatchObject({ did: aliceDid, version: 1 })
    // From a passphrase file too; a file other users can read is refused before anything is asked.
    const file = join(dir, 'pass')
    writeFileSync(file, 'not the passphrase\n', { mode: 0o600 })
    expectFailure(await ipid(['key', 'add', 'alice', '--passphrase-file', file]), 1, 'wrong_passphrase', /wrong passphrase/)
    writeFileSync(join(dir, 'open-pass'), `${PASS}\n`, { mode: 0o644 })
    expectFailure(await ipid(['key', 'add', 'alice', '--passphrase-file', join(dir, 'open-pass'), '--json']), 2, 'bad_passphrase_file', /can be read by other users \(mode 644\): run `chmod 600/)
  })

  it('unknown identity: exit 1, naming `ipid ls`; several identities and no name: exit 2', async () => {
    expectFailure(await ipid(['show', 'nobody', '--json']), 1, 'unknown_identity', /no identity named "nobody".*`ipid ls`/)
    expectFailure(await ipid(['key', 'rotate', 'nobody'], { IPIDD_PASSPHRASE: PASS }), 1, 'unknown_identity', /`ipid ls`/)
    expectFailure(await ipid(['show', '--json']), 2, 'name_needed', /holds 2 identities \(alice, bob\): name one/)
  })

  it('unreachable daemon: exit 3, saying to start it or pass --api', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    await new Promise(resolve => server.close(resolve))
    expectFailure(await ipid(['ls', '--api', `http://127.0.0.1:${port}`, '--json']), 3, 'daemon_unreachable', /daemon unreachable at http:\/\/127\.0\.0\.1:\d+.*check --api/)
    // A data directory whose daemon is gone (its api.url left behind): start it, or pass --api.
    const stale = join(dir, 'stale')
    mkdirSync(stale, { mode: 0o700 })
    copyFileSync(join(dataDir, 'admin.token'), join(stale, 'admin.token'))
    writeFileSync(join(stale, 'api.url'), `http://127.0.0.1:${port}\n`)
    expectFailure(await ipid(['status', '--data-dir', stale]), 3, 'daemon_unreachable', /start it with `ipid daemon` or pass --api/)
    // A data directory no daemon ever ran on.
    expectFailure(await ipid(['ls', '--data-dir', join(dir, 'never'), '--json']), 3, 'no_token', /no daemon has run with the data directory/)
  })

  it('malformed DID: exit 2, before any network', async () => {
    expectFailure(await ipid(['resolve', 'did:ipid:nope!', '--json']), 2, 'malformed_id', /is not a did:ipid DID/)
    expectFailure(await ipid(['history', 'did:web:example.com']), 2, 'method_not_supported', /is not a did:ipid DID/)
    expectFailure(await ipid(['pin', 'not-a-did', '--json']), 2, 'not_a_did', /is not a did:ipid DID/)
  })

  it('missing update key: exit 2 before any passphrase is asked; a stale key file: exit 1', async () => {
    const before = readFileSync(coldFile, 'utf8')
    expectFailure(await ipid(['key', 'rotate', 'bob', '--json']), 2, 'update_key_required', /update keys of bob are in cold storage: pass --update-key FILE/)
    expectFailure(await ipid(['key', 'rotate', 'alice', '--update-key', coldFile, '--json']), 2, 'update_keys_held', /drop --update-key/)
    // With the file: a change; the copy taken before it is stale afterwards.
    const stale = join(dir, 'stale.update-keys.json')
    copyFileSync(coldFile, stale)
    const rotated = await ipid(['key', 'rotate', 'bob', '--update-key', coldFile, '--json'], { IPIDD_PASSPHRASE: PASS })
    expect(rotated.code, rotated.stderr).toBe(0)
    expect(JSON.parse(rotated.stdout)).toMatchObject({ name: 'bob', version: 2, added: ['auth-2'] })
    expect(readFileSync(coldFile, 'utf8')).not.toBe(before)
    expectFailure(await ipid(['key', 'rotate', 'bob', '--update-key', stale], { IPIDD_PASSPHRASE: PASS }), 1, 'wrong_update_key', /older copy; use the latest one/)
    // A wrong passphrase with the cold file leaves the file as it was.
    const current = readFileSync(coldFile, 'utf8')
    expectFailure(await ipid(['key', 'rotate', 'bob', '--update-key', coldFile], { IPIDD_PASSPHRASE: 'not the passphrase' }), 1, 'wrong_passphrase', /wrong passphrase/)
    expect(readFileSync(coldFile, 'utf8')).toBe(current)
  })

  it('one cold key file, two changes at once: a lock lets one through at a time, and the file still changes the identity', async () => {
    const link = join(dir, 'link.update-keys.json')
    symlinkSync(coldFile, link)
    const lock = `${coldFile}.lock`
    const add = async (fragment: string, file: string): Promise<Run> =>
      ipid(['service', 'add', fragment, 'LinkedDomains', `https://${fragment}.example`, '--name', 'bob', '--update-key', file, '--json'], { IPIDD_PASSPHRASE: PASS })
    // A lock held by a running process (this test's): refused at once, naming the lock to delete; the file is untouched.
    writeFileSync(lock, `${process.pid}\n`)
    const content = readFileSync(coldFile, 'utf8')
    expectFailure(await add('held', link), 1, 'cold_file_locked', new RegExp(`is in use by another change \\(.*\\.lock exists, held by pid ${process.pid}\\): wait for it to finish; if no ipid is running, delete .*\\.lock`))
    expect(readFileSync(coldFile, 'utf8')).toBe(content)
    // A lock left behind by a killed ipid (its pid no longer runs) is taken over by the next change.
    writeFileSync(lock, `${spawnSync(process.execPath, ['-e', '']).pid}\n`)
    // Two at once, one of them through a symbolic link to the file: each publishes or stops at the lock.
    const both = await Promise.all([add('one', coldFile), add('two', link)])
    for (const run of both) if (run.code !== 0) expectFailure(run, 1, 'cold_file_locked', /is in use by another change/)
    const versions = both.filter(r => r.code === 0).map(r => (JSON.parse(r.stdout) as { version: number }).version).sort()
    expect(versions.length).toBeGreaterThan(0)
    if (versions.length === 2) expect(versions[1]).toBe(versions[0]! + 1)
    expect(existsSync(lock)).toBe(false)
    // The identity still changes with the file (through the link, which stays a link), and the file then holds
    // the key the daemon names as the next signer, alone.
    const third = await add('three', link)
    expect(third.code, third.stderr).toBe(0)
    expect(JSON.parse(third.stdout)).toMatchObject({ version: versions.at(-1)! + 1 })
    const { coldSigner } = JSON.parse((await ipid(['show', 'bob', '--json'])).stdout) as { coldSigner: string }
    expect((JSON.parse(readFileSync(coldFile, 'utf8')) as { keys: Array<{ publicKey: string }> }).keys.map(k => k.publicKey)).toEqual([coldSigner])
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
  })

  it('admin requests go to loopback only: a remote --api or IPIDD_API is exit 2 before any token or passphrase is sent', async () => {
    const [flag, fromEnv] = await Promise.all([
      ipid(['ls', '--api', 'http://192.0.2.1:8080', '--json']),
      ipid(['key', 'rotate', 'alice'], { IPIDD_API: 'https://ipidd.example', IPIDD_PASSPHRASE: PASS })
    ])
    expectFailure(flag, 2, 'admin_not_loopback', /^ipid: --api http:\/\/192\.0\.2\.1:8080 is not a loopback address: .*run ipid on the daemon's machine/)
    expectFailure(fromEnv, 2, 'admin_not_loopback', /^ipid: IPIDD_API https:\/\/ipidd\.example is not a loopback address/)
  })

  it('deactivation: exit 2 without a terminal or --yes; exit 1 when the DID typed does not match', async () => {
    expectFailure(await ipid(['deactivate', 'alice', '--json'], { IPIDD_PASSPHRASE: PASS }), 2, 'confirmation_needed', /pass --yes to confirm/)
    const run = runInPty(`'${process.execPath}' '${main}' deactivate alice`, { cwd: dir, env })
    await run.waitFor('Type the DID to confirm: ')
    run.type('did:ipid:something-else')
    expect(await run.exited).toBe(1)
    expect(run.output()).toMatch(/ipid:\S* the DID typed does not match: nothing was changed/)
    expect(JSON.parse((await ipid(['show', 'alice', '--json'])).stdout)).toMatchObject({ deactivated: false })
  })

  it('pins: an own identity is always kept; unpinning it is refused (exit 1)', async () => {
    const pinned = await ipid(['pin', aliceDid, '--json'])
    expect([pinned.code, JSON.parse(pinned.stdout)]).toEqual([0, { did: aliceDid, kind: 'own', newlyPinned: false }])
    expectFailure(await ipid(['unpin', aliceDid, '--json']), 1, 'own_identity', /always kept/)
  })

  it('auth: a peer that does not authenticate, or a daemon without DIDAuth, is exit 1 in one line', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    await new Promise(resolve => server.close(resolve))
    const run = await ipid(['auth', `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA`, '--json'])
    expect(run.code, run.stderr).toBe(1)
    expect(run.stderr.split('\n').filter(l => l !== '')).toHaveLength(1)
    expect(run.stderr).toMatch(/^ipid: (DIDAuth is not available in the daemon at|\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+ did not authenticate)/)
    expectFailure(await ipid(['auth', 'not-a-peer']), 2, 'bad_peer', /neither a multiaddr .* nor a PeerId/)
  })

  it('usage errors: exit 2 in one line naming the help, and { error } with --json; --debug adds the stack', async () => {
    const runs = await Promise.all([
      ipid(['ls', '--colour']), ipid(['ls', '--colour', '--json']), ipid(['key', 'rotate', '--purpose', 'signing', '--json']),
      ipid(['resolve', '--json']), ipid(['key', '--json']), ipid(['bogus', '--json']),
      // A malformed --bootstrap is refused by the option parser, before any node starts.
      ipid(['resolve', 'did:ipid:k51qzi5uqu5dlvj2', '--bootstrap', 'garbage', '--json']), ipid(['history', 'did:ipid:k51qzi5uqu5dlvj2', '--bootstrap', '/ip4/999.0.0.1/tcp/4001'])
    ])
    const [colour, colourJson, purpose, noDid, group, bogus, bootstrap, badIp] = runs as [Run, Run, Run, Run, Run, Run, Run, Run]
    expectFailure(colour, 2, 'usage', /unknown option '--colour': see `ipid ls --help`/)
    expectFailure(colourJson, 2, 'usage', /unknown option '--colour': see `ipid ls --help`/)
    expectFailure(purpose, 2, 'usage', /see `ipid key rotate --help`/)
    expectFailure(noDid, 2, 'usage', /missing required argument 'did': see `ipid resolve --help`/)
    expectFailure(group, 2, 'usage', /see `ipid key --help`/)
    expectFailure(bogus, 2, 'usage', /unknown command 'bogus': see `ipid --help`/)
    expectFailure(bootstrap, 2, 'usage', /--bootstrap.*Not a multiaddr: String multiaddr must start with "\/".*see `ipid resolve --help`/)
    expectFailure(badIp, 2, 'usage', /Not a multiaddr: Invalid IPv4 address "999\.0\.0\.1".*see `ipid history --help`/)
    const debug = await ipid(['show', 'nobody', '--debug'])
    expect(debug.code).toBe(1)
    expect(debug.stderr).toMatch(/^ipid: no identity named "nobody"/)
    expect(debug.stderr).toMatch(/\n\s+at /)
  })
})
