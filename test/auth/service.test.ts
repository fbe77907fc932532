/**
 * DidAuthService on real libp2p nodes on 127.0.0.1: how it holds up around the handshake itself. Outbound
 * handshakes have their own budget (a flood of inbound ones does not block them); a session belongs to the
 * connection it was proved on and ends when that connection closes; expired sessions end by the prune timer;
 * nonces live as long as the configured step deadline needs; an internal error leaves its cause in the debug
 * log. X (alice) and Y (bob) are the parties, Z (no identity) the publisher of both documents and the flooder.
 * One clock for all, moved by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DIDAUTH_PROTOCOL } from '../../src/auth/messages.ts'
import { NONCE_TTL_MS, newNonce } from '../../src/auth/nonces.ts'
import { createProof } from '../../src/auth/proof.ts'
import { SESSION_LIFETIME_MS } from '../../src/auth/registry.ts'
import { FramedStream } from '../../src/auth/framing.ts'
import { createFirstVersion } from '../../src/did/version-node.ts'
import { documentWithAuthKey, multikeyOf, testIdentity } from '../helpers/fixtures.ts'
import { eventually, publishVersion } from '../helpers/network.ts'
import { capturingLogger, connectAll, counter, fixtureSigner, nextEvent, openRaw, startAuthStack, testClock } from '../helpers/didauth.ts'
import type { SessionEnded } from '../../src/auth/registry.ts'
import type { AuthStack } from '../helpers/didauth.ts'
import type { TestIdentity } from '../helpers/fixtures.ts'
import type { Connection, Stream } from '@libp2p/interface'

const clock = testClock()
let X: AuthStack, Y: AuthStack, Z: AuthStack
let alice: TestIdentity, bob: TestIdentity
const stacks: AuthStack[] = []

async function stack (options: Parameters<typeof startAuthStack>[0]): Promise<AuthStack> {
  const started = await startAuthStack(options)
  stacks.push(started)
  return started
}

/** A second (third…) connection from one stack to another, beside the one they already have. */
async function extraConnection (from: AuthStack, to: AuthStack): Promise<Connection> {
  const { multiaddr } = await import('@multiformats/multiaddr')
  return from.libp2p.dial(multiaddr(to.address), { force: true })
}

const openConnections = (from: AuthStack, to: AuthStack): Connection[] => from.libp2p.getConnections().filter(c => c.remotePeer.toString() === to.peerId && c.status === 'open')

beforeAll(async () => {
  ;[alice, bob] = await Promise.all([7400, 7410].map(async base => testIdentity(base))) as [TestIdentity, TestIdentity]
  ;[X, Y, Z] = await Promise.all([
    stack({ clock, signer: fixtureSigner(alice.did, alice.auth[0]!), limits: { maxConcurrent: 2 }, sessionPruneIntervalMs: 50 }),
    stack({ clock, signer: fixtureSigner(bob.did, bob.auth[0]!) }),
    stack({ clock })
  ])
  await connectAll([X, Y, Z])
  for (const id of [alice, bob]) {
    const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, clock())
    await publishVersion(Z.node, id.root, v1, { nowMs: clock() })
  }
})

afterAll(async () => {
  await Promise.allSettled(stacks.map(async s => s.stop()))
})

describe('DidAuthService', () => {
  it('a full inbound budget does not block an outbound handshake (outbound has its own budget)', async () => {
    // Z holds X's whole inbound budget (maxConcurrent 2) with two streams that say nothing.
    const silent = await Promise.all([0, 1].map(async () => openRaw(Z.libp2p, X.peerId)))
    try {
      await eventually(async () => X.service.limiter.activeInbound === 2 ? true : undefined)
      const third = await openRaw(Y.libp2p, X.peerId)
      expect(await third.read(['outcome'])).toMatchObject({ ok: false, reason: 'busy' })
      third.abort('stream_closed')
      // X still authenticates Y, and Y registers alice.
      expect((await X.service.authenticate(Y.peerId)).did).toBe(bob.did)
      expect(Y.service.registry.get(X.peerId)?.did).toBe(alice.did)
      expect(X.service.limiter.activeInbound).toBe(2)
    } finally {
      for (const s of silent) s.abort('stream_closed')
    }
    await eventually(async () => X.service.activeHandshakes === 0 ? true : undefined)
  })

  it('a session ends when the connection it was proved on closes, even if the peer has another connection', async () => {
    expect(openConnections(X, Y)).toHaveLength(1)
    const second = await extraConnection(X, Y)
    expect(openConnections(X, Y)).toHaveLength(2)
    const { session } = await X.service.authenticateConnection(second)
    expect(session?.did).toBe(bob.did)
    expect(X.service.registry.connectionOf(Y.peerId)).toBe(second.id)
    const yConnection = openConnections(Y, X).find(c => c.id === Y.service.registry.connectionOf(X.peerId))
    expect(yConnection).toBeDefined()
    expect(Y.service.registry.get(X.peerId)?.did).toBe(alice.did)

    const endedAtX = nextEvent<SessionEnded>(X.service.registry, 'ended', e => e.session.peerId === Y.peerId)
    const endedAtY = nextEvent<SessionEnded>(Y.service.registry, 'ended', e => e.session.peerId === X.peerId)
    await second.close()
    expect(await endedAtX).toMatchObject({ reason: 'disconnected', session: { did: bob.did } })
    expect(await endedAtY).toMatchObject({ reason: 'disconnected', session: { did: alice.did } })
    expect(openConnections(X, Y)).toHaveLength(1) // the peers are still connected: no peer:disconnect
    expect(await counter(X.metrics, 'ipidd_didauth_sessions', {})).toBe(0)

    // A session proved on the remaining connection outlives another connection's closing.
    await X.service.authenticate(Y.peerId)
    const third = await extraConnection(X, Y)
    await third.close()
    await eventually(async () => openConnections(Y, X).length === 1 ? true : undefined)
    expect(X.service.registry.get(Y.peerId)?.did).toBe(bob.did)
    expect(Y.service.registry.get(X.peerId)?.did).toBe(alice.did)
  })

  it('a handshake whose connection closes as it ends leaves no session behind', async () => {
    // Z answers as bob (a second device of his) and closes the connection right after its acceptance.
    const bobOnZ = fixtureSigner(bob.did, bob.auth[0]!)
    await Z.service.stop()
    try {
      await Z.libp2p.handle(DIDAUTH_PROTOCOL, async (stream: Stream, connection: Connection) => {
        const framed = new FramedStream(stream)
        try {
          const hello = await framed.read(['hello'])
          const proof = await createProof(bobOnZ, { audience: hello.did ?? connection.remotePeer.toString(), nonce: hello.nonce, initiator: connection.remotePeer.toString(), responder: Z.peerId, role: 'responder' }, clock())
          await framed.write({ type: 'challenge', did: bob.did, nonce: newNonce(), proof })
          await framed.read(['proof'])
          await framed.write({ type: 'outcome', ok: true })
          await connection.close()
        } catch {
          framed.abort('stream_closed')
        }
      })
      for (let round = 0; round < 3; round++) {
        const connection = await extraConnection(X, Z)
        const outcome = await X.service.authenticateConnection(connection).then(() => 'ok', (err: { reason: string }) => err.reason)
        expect(['ok', 'stream_closed']).toContain(outcome) // depending on whether the close or the outcome came first
        await eventually(async () => connection.status === 'closed' || connection.status === 'aborted' ? true : undefined)
        await eventually(async () => X.service.registry.get(Z.peerId) === undefined ? true : undefined)
        await new Promise(resolve => setTimeout(resolve, 20))
        expect(X.service.registry.get(Z.peerId)).toBeUndefined()
      }
      expect(openConnections(X, Z)).toHaveLength(1)
    } finally {
      await Z.libp2p.unhandle(DIDAUTH_PROTOCOL)
      await Z.service.start()
    }
  })

  it('expired sessions end by the prune timer, with their event and the gauge, without anyone reading the registry', async () => {
    await X.service.authenticate(Y.peerId)
    expect(await counter(X.metrics, 'ipidd_didauth_sessions', {})).toBe(1)
    expect(await counter(Y.metrics, 'ipidd_didauth_sessions', {})).toBe(1)
    // X's timer runs every 50 ms (sessionPruneIntervalMs); Y's at the default interval, so the test prunes it.
    const endedAtX = nextEvent<SessionEnded>(X.service.registry, 'ended')
    const endedAtY = nextEvent<SessionEnded>(Y.service.registry, 'ended')
    clock.advance(SESSION_LIFETIME_MS)
    expect(await endedAtX).toMatchObject({ reason: 'expired', session: { peerId: Y.peerId, did: bob.did } })
    expect(await counter(X.metrics, 'ipidd_didauth_sessions', {})).toBe(0)
    Y.service.registry.prune()
    expect(await endedAtY).toMatchObject({ reason: 'expired', session: { peerId: X.peerId, did: alice.did } })
    expect(await counter(Y.metrics, 'ipidd_didauth_sessions', {})).toBe(0)
    // Authenticating again starts new sessions.
    await X.service.authenticate(Y.peerId)
    expect(await counter(X.metrics, 'ipidd_didauth_sessions', {})).toBe(1)
  })

  it('with a long step deadline, nonces live long enough for an honest slow peer (3 step deadlines)', async () => {
    const S = await stack({ clock, stepTimeoutMs: 20_000 })
    await connectAll([X, S])
    const slowProof = async (waitMs: number): Promise<unknown> => {
      const framed = await openRaw(X.libp2p, S.peerId)
      try {
        await framed.write({ type: 'hello', version: 1, did: alice.did, nonce: newNonce(), wantProof: false })
        const challenge = await framed.read(['challenge'])
        clock.advance(waitMs) // alice takes her time (within each step's deadline of 20 s, by S's clock)
        const proof = await createProof(fixtureSigner(alice.did, alice.auth[0]!), { audience: S.peerId, nonce: challenge.nonce, initiator: X.peerId, responder: S.peerId, role: 'initiator' }, clock())
        await framed.write({ type: 'proof', proof })
        return await framed.read(['outcome'])
      } finally {
        framed.abort('stream_closed')
      }
    }
    // Longer than the fixed 30 s the nonces used to live, shorter than three of S's steps.
    expect(NONCE_TTL_MS).toBeLessThan(35_000)
    expect(await slowProof(35_000)).toEqual({ type: 'outcome', ok: true })
    expect(S.service.registry.get(X.peerId)?.did).toBe(alice.did)
    // Beyond three step deadlines the nonce is gone.
    expect(await slowProof(60_000)).toEqual({ type: 'outcome', ok: false, reason: 'expired_nonce' })
  })

  it('an internal error is logged with its cause at debug level (and only then), never sent', async () => {
    const lines: Array<Record<string, unknown>> = []
    const broken = await stack({
      clock,
      logger: capturingLogger(lines),
      signer: { did: bob.did, keyId: `${bob.did}#auth-1`, sign: async () => { throw new Error('the key store is unavailable') } }
    })
    await connectAll([X, broken])
    await expect(X.service.authenticate(broken.peerId)).rejects.toMatchObject({ reason: 'internal_error', remote: true })
    const failed = lines.filter(l => l.msg === 'DIDAuth handshake failed')
    expect(failed).toEqual([expect.objectContaining({ reason: 'internal_error', role: 'responder', peer: X.peerId })])
    const debug = lines.filter(l => l.msg === 'DIDAuth internal error')
    expect(debug).toHaveLength(1)
    expect(debug[0]).toMatchObject({ level: 20, reason: 'internal_error', peer: X.peerId })
    expect(String(debug[0]!.cause)).toContain('the key store is unavailable')
    // Other refusals log no cause.
    await expect(Z.service.authenticate(broken.peerId)).rejects.toMatchObject({ reason: 'internal_error' })
    const garbage = await openRaw(Z.libp2p, broken.peerId)
    garbage.sendRaw(new Uint8Array([3, 0x6e, 0x6f, 0x21]))
    expect(await garbage.read(['outcome'])).toMatchObject({ ok: false, reason: 'bad_message' })
    garbage.abort('stream_closed')
    await eventually(async () => lines.some(l => l.reason === 'bad_message') ? true : undefined)
    expect(lines.filter(l => l.msg === 'DIDAuth internal error')).toHaveLength(2)
    expect(lines.filter(l => 'cause' in l).every(l => l.reason === 'internal_error')).toBe(true)
    expect(JSON.stringify(lines)).not.toMatch(/eyJ[A-Za-z0-9_-]{10}|"nonce"/)
  })
})
