/**
 * The loopback guard itself (test/helpers/loopback-guard.ts). Its refusals are tried in child processes that
 * run in a fresh network namespace holding nothing but loopback, so that even a guard that let a connection
 * through could not send a packet beyond it; each child writes to its own violation log, not the run's.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { GUARD_LOG_ENV, GUARD_NETNS_ENV, isLoopbackTarget } from './helpers/loopback-guard.ts'
import { namespaceSupport } from './helpers/netns.ts'
import type { AddressInfo } from 'node:net'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
const register = pathToFileURL(join(import.meta.dirname, 'helpers', 'loopback-guard-register.ts')).href
const folder = mkdtempSync(join(tmpdir(), 'ipidd-guard-test-'))
afterAll(() => { rmSync(folder, { recursive: true, force: true }) })

/** Tries each target from a child in a loopback-only namespace; prints what became of each as JSON. */
const PROBE = `
const net = require('node:net'), dgram = require('node:dgram')
const outcome = async (attempt) => { try { await attempt(); return 'sent' } catch (e) { return (e.cause ?? e).name === 'LoopbackGuardError' ? 'refused' : 'failed:' + ((e.cause ?? e).code ?? e.message) } }
const tcp = (host, port) => new Promise((resolve, reject) => { const s = net.connect(port, host); s.on('connect', () => { s.end(); resolve() }).on('error', reject) })
const udp = (host) => new Promise((resolve, reject) => { const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4'); s.send('x', 9, host, e => { s.close(); e ? reject(e) : resolve() }) })
;(async () => {
  const port = Number(process.argv[1])
  process.stdout.write(JSON.stringify({
    fetchOther: await outcome(() => fetch('http://192.0.2.1:8080/')),
    tcpPrivate: await outcome(() => tcp('10.0.0.1', 80)),
    tcpName: await outcome(() => tcp('example.invalid', 80)),
    tcpV6: await outcome(() => tcp('2001:db8::1', 80)),
    udpOther: await outcome(() => udp('192.0.2.1')),
    tcpLoopback: await outcome(() => tcp('127.0.0.1', port)),
    tcpLocalhost: await outcome(() => tcp('localhost', port))
  }))
})()`

/** Runs PROBE in a new network namespace; `runNetns` is the namespace the child is told the run started in. */
async function probe (runNetns: 'its own' | 'another', log: string): Promise<Record<string, string>> {
  const script = [
    'ip link set lo up',
    runNetns === 'its own' ? `export ${GUARD_NETNS_ENV}="$(readlink /proc/self/ns/net)"` : `export ${GUARD_NETNS_ENV}="net:[0]"`,
    // A server on this namespace's loopback for the allowed connections.
    `exec "$0" -e 'const s = require("node:net").createServer(c => c.end()).listen(0, "127.0.0.1", () => { require("node:child_process").execFile(process.execPath, ["-e", process.argv[1], String(s.address().port)], (e, out) => { process.stdout.write(out); s.close() }) })' "$1"`
  ].join('\n')
  const { stdout } = await run('unshare', ['-n', 'sh', '-c', script, process.execPath, PROBE], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: `--import=${register}`, [GUARD_LOG_ENV]: log },
    timeout: 20_000
  })
  return JSON.parse(stdout) as Record<string, string>
}

describe('loopback guard', () => {
  it('takes 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
    for (const host of [undefined, '', 'localhost', 'localhost.', '127.0.0.1', '127.9.8.7', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackTarget(host), String(host)).toBe(true)
    for (const host of ['10.0.0.1', '192.168.1.1', '172.16.0.1', '8.8.8.8', '0.0.0.0', '::', 'fe80::1', '2001:db8::1', '::ffff:10.0.0.1', 'example.com', 'localhost.example']) {
      expect(isLoopbackTarget(host), host).toBe(false)
    }
  })

  it('is installed in this test worker', () => {
    expect(net.Socket.prototype.connect.name).toBe('guardedConnect')
    expect(process.env.NODE_OPTIONS).toContain('loopback-guard-register.ts')
  })

  it.runIf(namespaceSupport().ok)('refuses TCP, fetch and UDP to other addresses before a packet leaves, logs each, and lets loopback through (child in a loopback-only namespace)', async () => {
    const log = join(folder, 'refused.jsonl')
    expect(await probe('its own', log)).toEqual({
      fetchOther: 'refused',
      tcpPrivate: 'refused',
      tcpName: 'refused',
      tcpV6: 'refused',
      udpOther: 'refused',
      tcpLoopback: 'sent',
      tcpLocalhost: 'sent'
    })
    const logged = readFileSync(log, 'utf8').trim().split('\n').map(line => JSON.parse(line).target as string)
    expect(logged).toEqual(['tcp 192.0.2.1:8080', 'tcp 10.0.0.1:80', 'tcp example.invalid:80', 'tcp 2001:db8::1:80', 'udp 192.0.2.1:9'])
  })

  it.runIf(namespaceSupport().ok)('lets a process in a namespace other than the run\'s (one a test made) reach its own addresses', async () => {
    const log = join(folder, 'allowed.jsonl')
    const outcome = await probe('another', log)
    // Not refused: the connection was attempted, and found no route out of the namespace.
    expect(outcome.tcpPrivate).toMatch(/^failed:E(NETUNREACH|HOSTUNREACH)/)
    expect(outcome.tcpLoopback).toBe('sent')
    expect(() => statSync(log)).toThrow()
  })

  it('fails a run that reached elsewhere: the global teardown reports the log', async () => {
    const { setup, teardown } = await import('./helpers/loopback-guard-setup.ts')
    const saved = { ...process.env }
    try {
      setup()
      const logFile = process.env[GUARD_LOG_ENV]!
      expect(() => net.connect(80, '192.0.2.1')).toThrow(/loopback guard: a test tried to reach tcp 192\.0\.2\.1:80/)
      expect(() => teardown()).toThrow(/1 attempt\(s\) to reach a non-loopback address[\s\S]*tcp 192\.0\.2\.1:80/)
      expect(() => statSync(logFile)).toThrow()
    } finally {
      process.env = saved
    }
  })

  it('no test or benchmark takes a target from this machine\'s interfaces', () => {
    const needle = ['network', 'Interfaces'].join('')
    const offenders: string[] = []
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (/\.(ts|js|mjs|cjs)$/.test(entry.name) && readFileSync(path, 'utf8').includes(needle)) offenders.push(path)
      }
    }
    walk(join(root, 'test'))
    walk(join(root, 'bench'))
    expect(offenders).toEqual([])
  })

  it('leaves a loopback server reachable from this worker', async () => {
    const server = createServer(socket => socket.end('ok'))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const text = await new Promise<string>((resolve, reject) => {
      let got = ''
      net.connect(port, '127.0.0.1').on('data', d => { got += String(d) }).on('end', () => resolve(got)).on('error', reject)
    })
    server.close()
    expect(text).toBe('ok')
  })
})
