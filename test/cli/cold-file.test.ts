/**
 * The cold key file kept right on the owner's side, whatever the daemon answers: `coldChange` against a stand-in
 * admin client (a refusal removes only the new key's entry from the file as it is then, an unknown outcome keeps
 * both keys and says so, a symbolic link stays a link, a held lock stops the change before anything is written),
 * a stale lock (its pid gone) is taken over, a damaged entry is reported by the file's name), `ipid keys cold`
 * against a stand-in daemon whose last answer is lost, a change interrupted with Ctrl-C, and which URLs the admin
 * client talks to.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdminClient, isLoopbackUrl } from '../../src/cli/api.ts'
import { coldChange, readColdFile, writeColdFile } from '../../src/cli/cold-keys.ts'
import { CliError, FailedError, UnreachableError } from '../../src/cli/errors.ts'
import { isLoopbackAddress } from '../../src/http/loopback.ts'
import { COLD_KEYS_FORMAT } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N, sealKey } from '../../src/identity/keystore.ts'
import { IPID_MAIN, runIpid } from '../helpers/cli.ts'
import { eventually } from '../helpers/network.ts'
import type { ColdKeys } from '../../src/identity/identities.ts'
import type { KeyFile } from '../../src/identity/keystore.ts'

const PASS = 'cold file passphrase'
const DID = 'did:ipid:k51qzi5uqu5dlvj2bobcoldfiletest'
const dir = mkdtempSync(join(tmpdir(), 'ipidd-cold-file-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

async function sealed (): Promise<KeyFile> {
  return sealKey(await generateKeyPair('Ed25519'), 'update', PASS, { logN: MIN_SCRYPT_LOG_N })
}

const keysOf = (path: string): string[] => (JSON.parse(readFileSync(path, 'utf8')) as ColdKeys).keys.map(k => k.publicKey)

/** A stand-in admin client: names `signer` as the next signer, and answers the change with `answer`. */
function admin (signer: string, answer: (body: { updateKey: { next?: string } }) => Promise<unknown>): { client: AdminClient, calls: number } {
  const state = { calls: 0 }
  const client = {
    get: async () => ({ name: 'bob', did: DID, prerotation: true, coldSigner: signer }),
    call: async (_method: string, _path: string, body: { updateKey: { next?: string } }) => {
      state.calls++
      return answer(body)
    }
  } as unknown as AdminClient
  return { client, get calls () { return state.calls } }
}

function change (client: AdminClient, path: string, warnings: string[] = []): Parameters<typeof coldChange>[0] {
  return {
    admin: client,
    detail: { name: 'bob', did: DID, prerotation: true },
    path,
    passphrase: PASS,
    method: 'POST',
    apiPath: '/identities/bob/services',
    body: {},
    needsNext: true,
    warn: text => { warnings.push(text) }
  }
}

describe('coldChange', () => {
  it('through a symbolic link: the file it names is rewritten, the link stays, the lock is next to the real file', async () => {
    const signer = await sealed()
    mkdirSync(join(dir, 'usb'))
    const real = join(dir, 'usb', 'bob.update-keys.json')
    writeColdFile(real, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer] })
    const link = join(dir, 'bob-link.json')
    symlinkSync(real, link)
    let next: string | undefined
    const daemon = admin(signer.publicKey, async body => {
      next = body.updateKey.next
      expect(existsSync(`${real}.lock`)).toBe(true)
      expect(keysOf(real)).toEqual([signer.publicKey, next])
      return { version: 2 }
    })
    expect(await coldChange(change(daemon.client, link))).toEqual({ version: 2 })
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(keysOf(link)).toEqual([next])
    expect(existsSync(`${real}.lock`)).toBe(false)
  })

  it('refused: only the new key goes, from the file as it is then; lost answer: both stay, a warning, exit 1', async () => {
    const [signer, leftover, written] = await Promise.all([sealed(), sealed(), sealed()])
    const path = join(dir, 'refused.json')
    writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer, leftover] })
    // Something else wrote an entry while the daemon was asked: it stays (no snapshot is restored).
    const refusal = admin(signer.publicKey, async () => {
      writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [...(JSON.parse(readFileSync(path, 'utf8')) as ColdKeys).keys, written] })
      throw Object.assign(new FailedError('wrong_passphrase', 'wrong passphrase'), { httpStatus: 403 })
    })
    await expect(coldChange(change(refusal.client, path))).rejects.toMatchObject({ reason: 'wrong_passphrase' })
    expect(keysOf(path)).toEqual([signer.publicKey, leftover.publicKey, written.publicKey])
    expect(existsSync(`${path}.lock`)).toBe(false)

    for (const lost of [new FailedError('timeout', 'no answer within 120 s'), new UnreachableError('daemon_unreachable', 'connection reset'), Object.assign(new FailedError('internal', 'boom'), { httpStatus: 500 })]) {
      const before = keysOf(path)
      let next: string | undefined
      const warnings: string[] = []
      const daemon = admin(signer.publicKey, async body => { next = body.updateKey.next; throw lost })
      const err = await coldChange(change(daemon.client, path, warnings)).catch((e: unknown) => e) as CliError
      expect([err.reason, err.exitCode]).toEqual([lost.reason, 1])
      expect(keysOf(path)).toEqual([...before, next])
      expect(warnings).toEqual([expect.stringMatching(/^the outcome is unknown: .*refused\.json now holds both the old and the new update key; keep it as it is/)])
    }
  })

  it('a lock held by a running process stops the change before anything is generated, written or sent', async () => {
    const signer = await sealed()
    const path = join(dir, 'locked.json')
    writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer] })
    // This test's own process: certainly running.
    writeFileSync(`${path}.lock`, `${process.pid}\n`)
    const content = readFileSync(path, 'utf8')
    const daemon = admin(signer.publicKey, async () => ({}))
    await expect(coldChange(change(daemon.client, path))).rejects.toThrow(new RegExp(`locked\\.json is in use by another change \\(.*locked\\.json\\.lock exists, held by pid ${process.pid}\\): wait for it to finish; if no ipid is running, delete .*locked\\.json\\.lock and try again$`))
    expect([readFileSync(path, 'utf8'), daemon.calls, readFileSync(`${path}.lock`, 'utf8')]).toEqual([content, 0, `${process.pid}\n`])
    // A lock that names no holder is not guessed at either.
    writeFileSync(`${path}.lock`, '')
    await expect(coldChange(change(daemon.client, path))).rejects.toMatchObject({ reason: 'cold_file_locked', exitCode: 1 })
    expect([daemon.calls, existsSync(`${path}.lock`)]).toEqual([0, true])
  })

  it('a lock left by a process that no longer runs (a killed ipid) is taken over', async () => {
    const signer = await sealed()
    const path = join(dir, 'stale.json')
    writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer] })
    const gone = spawnSync(process.execPath, ['-e', '']).pid
    expect(gone).toBeGreaterThan(0)
    writeFileSync(`${path}.lock`, `${gone}\n`)
    let held: string | undefined
    const daemon = admin(signer.publicKey, async () => {
      held = readFileSync(`${path}.lock`, 'utf8')
      return { version: 2 }
    })
    expect(await coldChange(change(daemon.client, path))).toEqual({ version: 2 })
    expect([held, daemon.calls, existsSync(`${path}.lock`)]).toEqual([`${process.pid}\n`, 1, false])
    expect(keysOf(path)).toHaveLength(1)
    expect(keysOf(path)[0]).not.toBe(signer.publicKey)
  })
})

describe('readColdFile', () => {
  it('a damaged entry is one line naming the file (exit 1), before anything else reads it', async () => {
    const [signer, other] = await Promise.all([sealed(), sealed()])
    const path = join(dir, 'damaged.json')
    const { kdf: _kdf, ...noKdf } = other
    for (const damaged of [noKdf, { ...other, kdf: { ...other.kdf, logN: 30 } }, { ...other, ciphertext: 42 }, 'not a key']) {
      writeFileSync(path, JSON.stringify({ format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer, damaged] }))
      const err = (() => { try { readColdFile(path, DID) } catch (e) { return e } })() as CliError
      expect(err).toBeInstanceOf(CliError)
      expect([err.exitCode, err.reason]).toEqual([1, 'bad_update_key'])
      expect(err.message).toMatch(/^\S*damaged\.json is damaged: its key 2 of 2 is not a sealed key file \(.+\): use another copy of the file$/)
      expect(err.message).not.toMatch(/\n/)
    }
    // The change stops there too: nothing is asked of the daemon.
    const daemon = admin(signer.publicKey, async () => ({}))
    await expect(coldChange(change(daemon.client, path))).rejects.toMatchObject({ reason: 'bad_update_key', exitCode: 1 })
    expect([daemon.calls, existsSync(`${path}.lock`)]).toEqual([0, false])
    // Not a cold key file at all stays a usage error.
    writeFileSync(path, JSON.stringify({ format: 'something else' }))
    expect(() => readColdFile(path)).toThrow(expect.objectContaining({ exitCode: 2, reason: 'bad_update_key' }) as Error)
    writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'bob', did: DID, keys: [signer, other] })
    expect(readColdFile(path, DID).keys.map(k => k.publicKey)).toEqual([signer.publicKey, other.publicKey])
  })
})

describe('ipid against a stand-in daemon', () => {
  const dataDir = join(dir, 'data')
  let api: string
  let signer: KeyFile
  let exported: KeyFile
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)) }
    const name = /^\/admin\/v1\/identities\/(\w+)/.exec(req.url ?? '')?.[1] ?? ''
    if (req.method === 'GET') {
      const cold = name === 'slow' ? { updateKeys: 'cold', coldSigner: signer.publicKey } : { updateKeys: 'daemon' }
      return send(200, { name, did: DID, version: 1, versionId: 'bafyreiexample', deactivated: false, prerotation: true, keys: [], services: [], ...cold })
    }
    if (req.url?.endsWith('/update-keys/export') === true) return send(200, { format: COLD_KEYS_FORMAT, name, did: DID, keys: [exported] })
    if (name === 'slow') return // never answers
    if (name === 'reset') return req.socket.destroy()
    send(500, { status: 500, detail: 'internal error' })
  })

  beforeAll(async () => {
    [signer, exported] = await Promise.all([sealed(), sealed()])
    mkdirSync(dataDir, { mode: 0o700 })
    writeFileSync(join(dataDir, 'admin.token'), 'token\n', { mode: 0o600 })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    api = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  afterAll(() => { server.closeAllConnections(); server.close() })

  const env = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, IPIDD_PASSPHRASE: PASS, HOME: dir, NO_COLOR: '1' }
    delete env.IPIDD_API
    return env
  }
  /** The common arguments: this stand-in daemon, its data directory, --json. */
  const against = (args: string[]): string[] => [...args, '--api', api, '--data-dir', dataDir, '--json']

  it('ipid keys cold, when the daemon\'s last answer is lost or 5xx: exit 1, and a warning to keep the file (it may be the only copy)', async () => {
    const files = ['failing', 'reset'].map(name => join(dir, `${name}.update-keys.json`))
    const runs = await Promise.all(['failing', 'reset'].map(async (name, i) => runIpid(against(['keys', 'cold', name, '--out', files[i]!]), dir, env())))
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(1)
      expect(run.stderr).toContain(`warning: the outcome is unknown: the daemon may already have deleted its update keys of ${i === 0 ? 'failing' : 'reset'}; keep ${files[i]!}, it may be their only copy`)
      expect(JSON.parse(run.stdout)).toMatchObject({ error: { exitCode: 1 } })
      expect(keysOf(files[i]!)).toEqual([exported.publicKey])
    })
  })

  it('a change interrupted with Ctrl-C while the daemon is asked: the lock goes, both keys stay, with a warning', async () => {
    const path = join(dir, 'slow.update-keys.json')
    writeColdFile(path, { format: COLD_KEYS_FORMAT, name: 'slow', did: DID, keys: [signer] })
    // Spawned here rather than by runIpid: the test interrupts it half-way.
    const child = spawn(process.execPath, [IPID_MAIN, ...against(['service', 'add', 'inbox', 'LinkedDomains', 'https://slow.example', '--name', 'slow', '--update-key', path])], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stdout.resume()
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
    // The new key is in the file once the daemon is being asked (a loaded machine may take a while to get there).
    await eventually(async () => keysOf(path).length >= 2 ? true : undefined, 30_000).catch((err: unknown) => {
      child.kill('SIGKILL')
      throw new Error(`ipid did not write the new key into ${path} within 30 s (stderr: ${stderr.trim() || 'empty'})`, { cause: err })
    })
    expect(existsSync(`${path}.lock`)).toBe(true)
    child.kill('SIGINT')
    const code = await exited
    expect(code, stderr).toBe(130)
    expect(stderr).toMatch(/warning: interrupted: the outcome is unknown: .*slow\.update-keys\.json now holds both the old and the new update key/)
    expect(existsSync(`${path}.lock`)).toBe(false)
    expect(keysOf(path)).toHaveLength(2)
    expect(keysOf(path)[0]).toBe(signer.publicKey)
  })
})

describe('the admin client', () => {
  it('talks to loopback only; the token is never read for another host', async () => {
    for (const url of ['http://127.0.0.1:8080', 'http://127.1.2.3', 'http://localhost:8080', 'https://LOCALHOST', 'http://[::1]:8080', 'http://[::ffff:127.0.0.1]:8080', 'http://[0:0:0:0:0:ffff:7f09:909]']) expect(isLoopbackUrl(url), url).toBe(true)
    for (const url of ['http://192.0.2.1:8080', 'http://ipidd.example', 'http://[::ffff:192.0.2.1]', 'http://127.0.0.1.example', 'http://0.0.0.0:8080', 'http://[2001:db8::1]']) expect(isLoopbackUrl(url), url).toBe(false)
    const remote = new AdminClient({ url: 'http://192.0.2.1:8080', source: 'flag', dataDir: join(dir, 'no-such-dir') })
    await expect(remote.get('/identities')).rejects.toMatchObject({ exitCode: 2, reason: 'admin_not_loopback' })
  })

  it('shares the daemon\'s loopback check, which takes the URL parser\'s spelling of IPv4-mapped addresses', () => {
    // The URL parser writes [::ffff:127.0.0.1] as ::ffff:7f00:1; a socket's remote address keeps the dotted form.
    const host = new URL('http://[::ffff:127.0.0.1]:8080').hostname.replace(/^\[(.*)\]$/, '$1')
    expect(host).toBe('::ffff:7f00:1')
    for (const address of [host, '::ffff:127.0.0.1', '::ffff:7fff:ffff', '::1', '127.0.0.1']) expect(isLoopbackAddress(address), address).toBe(true)
    for (const address of ['::ffff:8000:1', '::ffff:c000:201', '::7f00:1', 'localhost', '', undefined]) expect(isLoopbackAddress(address), String(address)).toBe(false)
  })
})
