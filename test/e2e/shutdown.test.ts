/**
 * Graceful stop (issue 5): once a stop begins the daemon accepts no new connections, lets a request already
 * in flight finish and answers it, then flushes and closes the cache store and stops the node.
 */
import { mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { createLogger } from '../../src/log.ts'

describe('graceful stop', () => {
  it('finishes a request in flight, refuses new connections, then closes the cache store', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ipidd-stop-'))
    const daemon = await startDaemon(loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] } } }), { logger: createLogger('silent') })
    const { hostname, port } = new URL(daemon.httpUrl)
    const body = JSON.stringify({ jwt: 'not.a.jwt', audience: 'did:example:app' })

    // A client has sent its head and half its body when the stop begins.
    const socket = connect(Number(port), hostname)
    await new Promise<void>(resolve => socket.once('connect', resolve))
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
    const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
    socket.write(`POST /1.0/verify HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
    let stopped = false
    const stopping = daemon.stop().then(() => { stopped = true })
    await new Promise(resolve => setTimeout(resolve, 200))

    // No new connections while it finishes.
    await expect(fetch(`${daemon.httpUrl}/healthz`)).rejects.toThrow()
    expect(stopped).toBe(false)

    // The request in flight completes and is answered.
    socket.end(body.slice(10))
    await closed
    expect(answer).toMatch(/^HTTP\/1\.1 422 /)
    expect(answer).toContain('application/problem+json')
    await stopping
    expect(stopped).toBe(true)
    // The cache store was flushed and closed with everything else.
    await expect(daemon.cache.store.get('k51anything')).rejects.toThrow(/not open/)
  })
})
