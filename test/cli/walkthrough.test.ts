/**
 * The README walkthrough, run as written with the real `ipid` entry point (`node src/cli/main.ts`): its
 * `ipid` lines are read from README.md and executed one by one in a temporary directory — two daemons on
 * loopback (on free ports instead of the README's fixed ones), the second bootstrapped to the first. The
 * passphrase prompts and the deactivation confirmation are answered in a pseudo-terminal; every other command
 * runs with `--json` added. Every DID, version id and exit code printed is checked.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { runInPty } from '../helpers/pty.ts'
import { runIpid } from '../helpers/cli.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const main = join(root, 'src/cli/main.ts')
const README = readFileSync(join(root, 'README.md'), 'utf8')
const PASS = 'walkthrough passphrase'

/** The walkthrough's command lines, as the README has them. */
const block = /<!-- walkthrough:start -->\n```sh\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(README)?.[1] ?? ''
const lines = block.split('\n').filter(l => l !== '' && !l.startsWith('#') && !l.startsWith('alias '))

const dir = mkdtempSync(join(tmpdir(), 'ipidd-walkthrough-'))
/** The environment of a person's shell: no passphrase, data directory or API set; cheap key derivation (tests only). */
const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, IPIDD_TEST_SCRYPT_LOG_N: '12', IPIDD_LOG_LEVEL: 'warn' }
for (const name of ['IPIDD_PASSPHRASE', 'IPIDD_DATA', 'IPIDD_API', 'IPIDD_CONFIG', 'IPIDD_BOOTSTRAP', 'NO_COLOR']) delete env[name]
const daemons: Array<{ child: ReturnType<typeof spawn>, exited: Promise<number | null>, stdout: () => string, stderr: () => string }> = []
const vars = new Map<string, string>()

afterAll(async () => {
  for (const d of daemons) d.child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise(resolve => server.close(resolve))
  return port
}

/** Splits a command line into words: blanks separate, double quotes group, `$VAR` expands. */
function words (line: string): string[] {
  const out: string[] = []
  for (const match of line.matchAll(/"([^"]*)"|(\S+)/g)) out.push((match[1] ?? match[2]!).replace(/\$([A-Z_]+)/g, (_m, name: string) => vars.get(name) ?? ''))
  return out
}

/** Runs `ipid <args>` to the end; its exit code, stdout and stderr. */
async function ipid (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return runIpid(args, dir, { ...env, ...extraEnv })
}

/** Runs `ipid <args> --json` and parses its one JSON document. */
async function ipidJson (args: string[]): Promise<{ code: number | null, json: any }> {
  const { code, stdout, stderr } = await ipid([...args, '--json'])
  let json: unknown
  try { json = JSON.parse(stdout) } catch { throw new Error(`ipid ${args.join(' ')} --json printed no JSON document (exit ${code}):\n${stdout}\n${stderr}`) }
  return { code, json }
}

/**
 * Resolves until the answer is `versionId`: the second daemon hears of a new version over the DHT and pubsub a
 * moment after the first publishes it, and a loaded machine can stretch that moment. The caller checks the last
 * answer's exit code and version.
 */
async function resolvedAt (args: string[], versionId: string): Promise<{ code: number | null, json: any }> {
  for (let attempt = 1; ; attempt++) {
    const answer = await ipidJson(args)
    if ((answer.code === 0 && answer.json.didDocumentMetadata?.versionId === versionId) || attempt === 20) return answer
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

/** `"$(ipid … | head -n 1)"`: the command substitutions of a line, replaced by their first line of output. */
async function substitute (line: string): Promise<string> {
  let result = line
  for (const match of line.matchAll(/"\$\(ipid ([^)|]*?)(?: \| head -n 1)?\)"/g)) {
    const { code, stdout } = await ipid(words(match[1]!))
    expect(code, match[0]).toBe(0)
    result = result.replace(match[0], `"${stdout.split('\n')[0]!}"`)
  }
  return result
}

/** `ipid daemon … > log 2>&1 &`: a daemon in the background, on free ports; resolves with what it printed once ready. */
async function startDaemon (line: string): Promise<string> {
  const args = words(line.replace(/ > \S+ 2>&1 &$/, '')).slice(1)
    .map(a => a.replace(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/, '/ip4/127.0.0.1/tcp/0'))
  args[args.indexOf('--http-port') + 1] = '0'
  const child = spawn(process.execPath, [main, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
  daemons.push({ child, exited, stdout: () => stdout, stderr: () => stderr })
  return new Promise((resolve, reject) => {
    child.stdout.on('data', () => { if (stdout.includes('ready; press Ctrl-C')) resolve(stdout) })
    void exited.then(code => { reject(new Error(`the daemon exited with ${code}: ${stderr}`)) })
  })
}

describe('the README walkthrough', () => {
  it('is the list of commands this test runs', () => {
    expect(lines.map(l => l.replace(/ .*/, ''))).toEqual(['ipid', 'ipid', 'ipid', 'ipid', 'ipid', 'DID=$(ipid', 'ipid', 'ipid', 'ipid', 'ipid', 'ipid', 'ipid', 'kill'])
  })

  it('runs: two daemons, create, resolve from the second, rotate, history, DIDAuth, deactivate, stop', { timeout: 120_000 }, async () => {
    const [startA, statusA, startB, statusB, init, showDid, resolve1, rotate, resolve2, history, auth, deactivate, kill] = lines as [string, ...string[]]

    // 1. The first daemon, and `ipid status --wait` until it answers.
    const printedA = await startDaemon(startA)
    const peerA = /PeerId\s+(12D3KooW\w+)/.exec(printedA)?.[1]
    const urlA = /HTTP\s+(http:\/\/\S+)/.exec(printedA)?.[1]
    const a = await ipidJson(words(statusA!).slice(1))
    expect(a.code).toBe(0)
    expect(a.json).toMatchObject({ health: { status: 'ok' }, httpUrl: urlA, ipfs: { peerId: peerA } })

    // 2. The second daemon, bootstrapped with the first one's address as `ipid status --addresses` prints it.
    const withAddress = await substitute(startB!)
    expect(withAddress).toContain(`/p2p/${peerA!}`)
    const printedB = await startDaemon(withAddress)
    const peerB = /PeerId\s+(12D3KooW\w+)/.exec(printedB)?.[1]
    let b = await ipidJson(words(statusB!).slice(1))
    expect(b.code).toBe(0)
    for (let tries = 0; !(b.json.ipfs.peers as string[]).includes(peerA!) && tries < 50; tries++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      b = await ipidJson(words(statusB!).slice(1))
    }
    expect(b.json.ipfs).toMatchObject({ peerId: peerB, peerCount: 1, peers: [peerA] })

    // 3. init in a terminal: the new passphrase, twice; --json into a file, so the terminal shows only the prompts.
    const created = await inTerminal(init!, [['New passphrase for alice: ', PASS], ['Repeat it: ', PASS]])
    expect(created.code).toBe(0)
    expect(created.terminal).toContain('Repeat it: ')
    expect(created.terminal).not.toContain(PASS)
    const did = created.json.did as string
    expect(did).toMatch(/^did:ipid:k51qzi5uqu5d[a-z0-9]+$/)
    expect(created.json).toMatchObject({ name: 'alice', version: 1, deactivated: false, versionId: expect.stringMatching(/^bafyrei[a-z2-7]+$/) })
    const v1 = created.json.versionId as string
    // DID=$(ipid show alice --did …)
    const shown = await ipid(words(/^DID=\$\((.*)\)$/.exec(showDid!)![1]!).slice(1))
    expect(shown.code).toBe(0)
    expect(shown.stdout).toBe(`${did}\n`)
    vars.set('DID', shown.stdout.trim())

    // 4. Resolved from the second daemon.
    const first = await resolvedAt(words(resolve1!).slice(1), v1)
    expect(first.code).toBe(0)
    expect(first.json.didDocument).toMatchObject({ id: did, authentication: [`${did}#auth-1`] })
    expect(first.json.didDocumentMetadata).toMatchObject({ versionId: v1, canonicalId: did, deactivated: false })

    // 5. Rotation in a terminal (the passphrase once); the second daemon sees version 2.
    const rotated = await inTerminal(rotate!, [['Passphrase for alice: ', PASS]])
    expect(rotated.code).toBe(0)
    expect(rotated.terminal).toContain('Passphrase for alice: ')
    expect(rotated.terminal).not.toContain(PASS)
    expect(rotated.json).toMatchObject({ did, version: 2, previousVersionId: v1, added: ['auth-2'], removed: ['auth-1'], deactivated: false })
    const v2 = rotated.json.versionId as string
    expect(v2).not.toBe(v1)
    const second = await resolvedAt(words(resolve2!).slice(1), v2)
    expect(second.code).toBe(0)
    expect(second.json.didDocument).toMatchObject({ id: did, authentication: [`${did}#auth-2`] })
    expect(second.json.didDocumentMetadata).toMatchObject({ versionId: v2, canonicalId: did })

    // 6. The history, newest first: who signed, what changed.
    const past = await ipidJson(words(history!).slice(1))
    expect(past.code).toBe(0)
    expect(past.json.id).toBe(did)
    expect(past.json.versions.map((v: { versionId: string }) => v.versionId)).toEqual([v2, v1])
    expect(past.json.versions[0].changes).toMatchObject({ keysAdded: [{ id: `${did}#auth-2` }], keysRemoved: [{ id: `${did}#auth-1` }] })
    expect(past.json.versions[1].signer).toMatch(/^z6Mk/)

    // Off the README: with no daemon answering, `resolve` starts a short-lived node on the configured bootstrap
    // peers; and `show` with no name shows the only identity held.
    const closed = await closedPort()
    const standalone = await ipid(['resolve', did, '--data-dir', './no-daemon-here', '--json'], { IPIDD_HTTP_PORT: String(closed), IPIDD_BOOTSTRAP: /--bootstrap "([^"]+)"/.exec(withAddress)![1]! })
    expect(standalone.code, standalone.stderr).toBe(0)
    expect(standalone.stderr).toBe('')
    expect(JSON.parse(standalone.stdout).didDocumentMetadata).toMatchObject({ versionId: v2, canonicalId: did })
    const only = await ipidJson(['show', '--data-dir', './node-a'])
    expect([only.code, only.json.name, only.json.did, only.json.versionId]).toEqual([0, 'alice', did, v2])

    // 7. DIDAuth from the second daemon to the first, by the address `ipid status --addresses` prints: alice, her
    // rotated key, version 2. Once --json for the fields, once as a person reads it.
    const authArgs = words(await substitute(auth!)).slice(1)
    expect(authArgs[1]).toMatch(new RegExp(`/p2p/${peerA!}$`))
    const proved = await ipidJson(authArgs)
    expect(proved.code).toBe(0)
    expect(proved.json).toMatchObject({ ok: true, peer: { peerId: peerA, did, keyId: `${did}#auth-2`, versionId: v2 } })
    const readable = await ipid(authArgs)
    expect(readable.code, readable.stderr).toBe(0)
    expect(readable.stdout).toContain(`${peerA!} is ${did}`)
    expect(readable.stdout).toContain(`${did}#auth-2`)
    expect(readable.stdout).toContain(v2)

    // 8. Deactivation in a terminal: the DID typed, then the passphrase.
    const gone = await inTerminal(deactivate!, [['Type the DID to confirm: ', did], ['Passphrase for alice: ', PASS]])
    expect(gone.code).toBe(0)
    expect(gone.terminal).toContain(`publishes a final version of ${did}`)
    expect(gone.terminal).toContain('Passphrase for alice: ')
    expect(gone.terminal).not.toContain(PASS)
    expect(gone.json).toMatchObject({ did, version: 3, previousVersionId: v2, deactivated: true })
    const after = await resolvedAt(['resolve', did, '--data-dir', './node-b', '--no-cache'], gone.json.versionId)
    expect([after.code, after.json.didDocumentMetadata.deactivated]).toEqual([0, true])

    // kill %1 %2: both stop cleanly.
    expect(kill).toBe('kill %1 %2')
    for (const d of daemons) d.child.kill('SIGTERM')
    expect(await Promise.all(daemons.map(async d => d.exited))).toEqual([0, 0])
  })
})

/**
 * Runs a README line in a pseudo-terminal with `--json` added and stdout into a file, answering each prompt in
 * turn; the exit code, the parsed document, and what the terminal showed.
 */
async function inTerminal (line: string, answers: Array<[string, string]>): Promise<{ code: number | null, json: any, terminal: string }> {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}.json`)
  const quoted = words(line).slice(1).map(w => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')
  const run = runInPty(`'${process.execPath}' '${main}' ${quoted} --json > '${out}'`, { cwd: dir, env })
  for (const [prompt, answer] of answers) {
    await run.waitFor(prompt)
    run.type(answer)
  }
  const code = await run.exited
  const text = readFileSync(out, 'utf8')
  return { code, json: JSON.parse(text), terminal: run.output() }
}
