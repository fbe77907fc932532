/**
 * DIDAuth (issue 6): handshakes per second and their latency between two local daemons over one open libp2p
 * connection, with warm DID caches (each daemon has resolved the other's DID before the clock starts). Each
 * daemon is the real composition (`startDaemon`: embedded node, SQLite cache, resolver, identities, DIDAuth
 * service), both in this process on 127.0.0.1, with the per-peer limits raised so that the benchmark measures
 * the protocol, not the rate limit.
 *
 * Baseline, on the same connection in the same run: an echo protocol framed like DIDAuth (a new stream, one
 * length-prefixed message of a handshake's size there and back), the floor under any request/response
 * protocol that opens a stream per exchange. A mutual handshake adds three more messages, two EdDSA
 * signatures, and two proof verifications each with a warm resolve.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { lpStream } from '@libp2p/utils'
import { loadConfig } from '../src/config.ts'
import { startDaemon } from '../src/daemon.ts'
import { MIN_SCRYPT_LOG_N } from '../src/identity/keystore.ts'
import { createLogger } from '../src/log.ts'
import { TABLE_HEAD, measure, row } from './harness.ts'
import type { Daemon } from '../src/daemon.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

const PASSPHRASE = 'didauth benchmark passphrase'
const ECHO_PROTOCOL = '/ipid/bench-echo/1.0.0'
/** About the size of a DIDAuth challenge with its proof. */
const ECHO_BYTES = 700
const BUDGET_MS = 4000
const WARMUP_MS = 300
/** Handshakes in flight at once in the concurrent run: at most the streams libp2p allows per connection. */
const CONCURRENCY = 8
/** Limits on the responding side: high enough never to refuse the benchmark's own handshakes. */
const UNLIMITED = { maxConcurrent: 1024, maxConcurrentPerPeer: 64, perPeerPerMinute: 1_000_000, burst: 1_000_000 }

async function daemon (dataDir: string): Promise<Daemon> {
  const config = loadConfig({
    env: { HOME: dataDir },
    flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'] }, auth: { limits: UNLIMITED } }
  })
  return startDaemon(config, { logger: createLogger('silent'), seal: { logN: MIN_SCRYPT_LOG_N } })
}

export async function didauthBenchmarks (): Promise<string> {
  const dirs = [mkdtempSync(join(tmpdir(), 'ipidd-bench-didauth-a-')), mkdtempSync(join(tmpdir(), 'ipidd-bench-didauth-b-'))]
  const [a, b] = await Promise.all(dirs.map(daemon)) as [Daemon, Daemon]
  try {
    await a.node!.dial(b.node!.multiaddrs()[0]!)
    const [alice, bob] = await Promise.all([
      a.identities.create({ name: 'alice', passphrase: PASSPHRASE }),
      b.identities.create({ name: 'bob', passphrase: PASSPHRASE })
    ])
    // Warm caches: each daemon holds the other's DID before any handshake is timed.
    for (const [d, did] of [[a, bob.did], [b, alice.did]] as const) {
      const result = await d.resolver.resolve(did)
      if (result.didResolutionMetadata.error !== undefined) throw new Error(`warm-up resolve of ${did} failed`)
    }
    const libp2p = a.node!.libp2p as Libp2p
    const bPeer = b.node!.peerId
    // The open connection to B. libp2p may replace it (a duplicate from B's side wins, or the connection monitor
    // drops it when a ping times out on a loaded machine): then the next one is taken, and counted.
    let connection = libp2p.getConnections(bPeer)[0] as Connection
    let replaced = 0
    const open = async (): Promise<Connection> => {
      if (connection.status !== 'open') {
        replaced++
        connection = libp2p.getConnections(bPeer).find(c => c.status === 'open') ?? await libp2p.dial(bPeer)
      }
      return connection
    }
    const auth = a.auth!
    const handshake = async (): Promise<void> => {
      const { session } = await auth.authenticateConnection(await open(), { wantProof: true })
      if (session?.did !== bob.did) throw new Error('the benchmark handshake did not authenticate bob')
    }
    const streamLimits = { maxInboundStreams: 64, maxOutboundStreams: 64 }
    await (b.node!.libp2p as Libp2p).handle(ECHO_PROTOCOL, async stream => {
      const lp = lpStream(stream)
      await lp.write(await lp.read())
      await stream.close()
    }, streamLimits)
    const message = new Uint8Array(ECHO_BYTES).fill(42)
    const ping = async (): Promise<void> => {
      const stream = await (await open()).newStream(ECHO_PROTOCOL, streamLimits)
      const lp = lpStream(stream)
      await lp.write(message)
      const echoed = await lp.read()
      if (echoed.byteLength !== ECHO_BYTES) throw new Error('the echo came back wrong')
      await stream.close()
    }
    await handshake() // the first stream of a connection costs more: not timed
    await ping()

    const pingSerial = await measure('baseline: one framed round trip on a new stream, one at a time', ping, BUDGET_MS)
    const serial = await measure('DIDAuth mutual handshake, one at a time', handshake, BUDGET_MS)
    const pingParallel = await measure(`baseline: one framed round trip on a new stream, ${CONCURRENCY} in flight`, ping, BUDGET_MS, WARMUP_MS, CONCURRENCY)
    const parallel = await measure(`DIDAuth mutual handshake, ${CONCURRENCY} in flight`, handshake, BUDGET_MS, WARMUP_MS, CONCURRENCY)
    const refused = /ipidd_didauth_refused_total\{[^}]*\} [1-9]/.test(await b.metrics.text())
    if (refused) throw new Error('the responder refused benchmark handshakes: the figures would not be of the protocol')

    return [
      '## DIDAuth handshakes (issue 6)',
      '',
      'Two daemons (`startDaemon`, embedded node, SQLite cache) in this process on 127.0.0.1, one open libp2p',
      'connection, warm DID caches on both sides; a mutual handshake: four messages, two EdDSA proofs, two',
      `verifications. ${BUDGET_MS / 1000} s per row. Ratio: handshakes/s over the baseline of the same concurrency`,
      `(a new stream and one length-prefixed ${ECHO_BYTES}-byte message there and back on the same connection), measured in the same run.`,
      '',
      TABLE_HEAD,
      row(pingSerial),
      row(serial, pingSerial),
      row(pingParallel),
      row(parallel, pingParallel),
      '',
      `The connection was replaced ${replaced} time(s) during the run (each row takes the open one).`,
      'Where the time goes (CPU profile of this benchmark): Ed25519 verification in pure JS (did-jwt verifies with',
      '@noble/curves), and libp2p recording each stream\'s protocol in the peer store, which the embedded node keeps in',
      'files (datastore-fs): the baseline pays that too. Both daemons share this process and its two cores.',
      ''
    ].join('\n')
  } finally {
    await Promise.allSettled([a.stop(), b.stop()])
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(await didauthBenchmarks())
