/**
 * `ipid daemon`: starts the daemon and runs until Ctrl-C (SIGINT) or SIGTERM. Configuration: defaults < config
 * file < `IPIDD_*` < these flags (src/config.ts). Prints what it is and where it listens; logs go to stderr.
 */
import { existsSync } from 'node:fs'
import { MAX_SCRYPT_LOG_N, MIN_SCRYPT_LOG_N } from '../../shared-constants.ts'
import { VERSION } from '../../version.ts'
import { formatTime } from '../../did/time.ts'
import { EXIT_FAILED, EXIT_OK, UsageError } from '../errors.ts'
import { common, examples, multiaddrs, run } from './shared.ts'
import type { Command } from 'commander'
import type { ConfigInput } from '../../config.ts'
import type { DidAuthState } from '../../auth/identity-choice.ts'
import type { CommonFlags } from './shared.ts'

/**
 * Tests only: the scrypt cost exponent of key files the daemon seals (the keystore's minimum and maximum
 * apply). People never set it: it makes a stolen key file cheaper to attack.
 */
export const TEST_SCRYPT_ENV = 'IPIDD_TEST_SCRYPT_LOG_N'
/**
 * Tests only: `<operation>:<step>` (src/identity/pending.ts, e.g. `rotate-key:identity-written`): the daemon kills
 * itself with SIGKILL when a change of that kind reaches that step, so that a test can check what a restart makes
 * of a change cut short there. People never set it.
 */
export const TEST_CRASH_ENV = 'IPIDD_TEST_CRASH_AT'

/** The flags as given: numbers and lists are parsed in `runDaemon`, by the configuration's own parsers. */
interface DaemonFlags extends CommonFlags {
  config?: string
  httpHost?: string
  httpPort?: string
  logLevel?: string
  /** Each --listen / --announce given, in order; each may hold several, separated by commas or blanks. */
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  network?: string
  kuboUrl?: string
  cacheUrl?: string
  cacheMax?: string
  keepResolved?: boolean
  authIdentity?: string
  authAuto?: boolean
  requirePeerProof?: boolean
  passphraseFile?: string
  probesAccess?: string
  probesPort?: string
  probesHost?: string
}

/** A repeatable option: every value given, in order (split into a list by `runDaemon`). */
const repeated = (value: string, previous: string[] = []): string[] => [...previous, value]

export function register (program: Command): void {
  const command = program.command('daemon')
    .description('start the ipidd daemon (embedded node, HTTP API) and run until Ctrl-C')
    .option('--data-dir <dir>', 'data directory (default ~/.ipidd, or $IPIDD_DATA)')
    .option('--config <file>', 'JSON config file (default <data-dir>/config.json when present)')
    .option('--http-host <host>', 'HTTP listen address (default 127.0.0.1)')
    .option('--http-port <port>', 'HTTP port (default 8080; 0 picks a free one)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--listen <multiaddr>', 'libp2p listen address, repeatable (default /ip4/0.0.0.0/tcp/4001)', repeated)
    .option('--announce <multiaddr>', 'address to announce instead of the listen addresses, repeatable', repeated)
    .option('--bootstrap <multiaddr>', 'peer to connect to at start (with /p2p/<id>), repeatable', multiaddrs)
    .option('--network <profile>', 'local (default: dial only --bootstrap peers) or public (join the public IPFS network)')
    .option('--kubo-url <url>', 'use a Kubo node over its RPC API instead of the embedded node')
    .option('--cache-url <url>', 'cache store: sqlite:<file>, redis://…, postgres://… (default SQLite in the data directory)')
    .option('--cache-max <n>', 'most identities the cache holds; own and pinned ones are never evicted (default 100000)')
    .option('--keep-resolved', 'the keeper republishes every identity resolved in the last day, not only own and pinned ones')
    .option('--auth-identity <name>', 'DIDAuth: the identity this daemon proves itself as (default: the first identity made, or the one made with ipid init --didauth)')
    .option('--auth-auto', 'DIDAuth: authenticate every peer that connects')
    .option('--require-peer-proof', 'DIDAuth: refuse peers that prove no DID')
    .option('--passphrase-file <file>', 'unlock held identities with the passphrase on this file\'s first line (0600; or $IPIDD_PASSPHRASE_FILE, else $IPIDD_PASSPHRASE)')
    .option('--probes-access <who>', 'who may read /metrics and /readyz on the HTTP port: loopback (default) or any')
    .option('--probes-port <port>', 'also serve /healthz, /readyz and /metrics alone on this port, to anyone who reaches it')
    .option('--probes-host <host>', 'the address of the --probes-port listener (default: the HTTP address)')
  examples(common(command, { daemon: false }), [
    'ipid daemon',
    'ipid daemon --data-dir ./node-a --http-port 8081 --listen /ip4/127.0.0.1/tcp/4002',
    'ipid daemon --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…',
    'ipid daemon --kubo-url http://127.0.0.1:5001',
    'ipid daemon --cache-url redis://127.0.0.1:6379 --keep-resolved',
    'IPIDD_PASSPHRASE=… ipid daemon --auth-identity alice --auth-auto',
    'ipid daemon --passphrase-file /run/secrets/ipidd-passphrase --http-host 0.0.0.0 --probes-port 9090'
  ], ['The passphrase (--passphrase-file, IPIDD_PASSPHRASE_FILE or IPIDD_PASSPHRASE) unlocks held identities so that',
    'their records are re-signed before they expire (7 days) and the DIDAuth identity can prove itself to peers.',
    'Without it the daemon says which identities are locked: in its banner, `ipid status` and /metrics.'])
  // Runs until a signal: the exit code is set by the signal handler, not by the action's return.
  command.action(run<DaemonFlags>(async ({ flags, out }) => { await runDaemon(flags, out.json) }))
}

async function runDaemon (flags: DaemonFlags, json: boolean): Promise<void> {
  const [{ list, loadConfig, parseCount, parsePort }, { startDaemon }, { createAccessLogger, createLogger }] = await Promise.all([
    import('../../config.ts'), import('../../daemon.ts'), import('../../log.ts')
  ])
  // Numbers and lists by the configuration's own parsers: a malformed one is a ConfigError naming the flag
  // (a usage error, exit 2), thrown before anything starts.
  const listOf = (values: string[]): string[] => values.flatMap(list)
  const input: ConfigInput = {
    ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
    ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
    http: {
      ...(flags.httpHost === undefined ? {} : { host: flags.httpHost }),
      ...(flags.httpPort === undefined ? {} : { port: parsePort(flags.httpPort, '--http-port') }),
      ...(flags.probesAccess === undefined ? {} : { probesAccess: flags.probesAccess }),
      ...(flags.probesPort === undefined ? {} : { probesPort: parsePort(flags.probesPort, '--probes-port') }),
      ...(flags.probesHost === undefined ? {} : { probesHost: flags.probesHost })
    },
    ipfs: {
      ...(flags.listen === undefined ? {} : { listen: listOf(flags.listen) }),
      ...(flags.announce === undefined ? {} : { announce: listOf(flags.announce) }),
      ...(flags.bootstrap === undefined ? {} : { bootstrap: flags.bootstrap }),
      ...(flags.network === undefined ? {} : { network: flags.network }),
      ...(flags.kuboUrl === undefined ? {} : { backend: 'kubo', kuboUrl: flags.kuboUrl })
    },
    cache: {
      ...(flags.cacheUrl === undefined ? {} : { url: flags.cacheUrl }),
      ...(flags.cacheMax === undefined ? {} : { maxIdentities: parseCount(flags.cacheMax, '--cache-max') }),
      ...(flags.keepResolved === true ? { keepResolved: true } : {})
    },
    auth: {
      ...(flags.authIdentity === undefined ? {} : { identity: flags.authIdentity }),
      ...(flags.authAuto === true ? { autoAuthenticate: true } : {}),
      ...(flags.requirePeerProof === true ? { requirePeerProof: true } : {})
    }
  }
  const config = loadConfig({ flags: input, ...(flags.config === undefined ? {} : { configFile: flags.config }), fileExists: existsSync })
  const logger = createLogger(config.logLevel)
  const passphrase = await daemonPassphrase(flags.passphraseFile, process.env)
  const testLogN = process.env[TEST_SCRYPT_ENV]
  if (testLogN !== undefined && testLogN !== '' && !(/^\d{1,2}$/.test(testLogN) && Number(testLogN) >= MIN_SCRYPT_LOG_N && Number(testLogN) <= MAX_SCRYPT_LOG_N)) {
    throw new UsageError('bad_test_kdf_cost', `${TEST_SCRYPT_ENV} must be a whole number from ${MIN_SCRYPT_LOG_N} to ${MAX_SCRYPT_LOG_N} (and is for tests only): unset it`)
  }
  if (testLogN !== undefined && testLogN !== '') logger.warn({ logN: Number(testLogN) }, `${TEST_SCRYPT_ENV} is set: new key files are sealed with a weaker key derivation; for tests only`)
  const crashAt = await testCrashPoint(process.env[TEST_CRASH_ENV])
  if (crashAt !== undefined) logger.warn({ crashAt: `${crashAt.operation}:${crashAt.step}` }, `${TEST_CRASH_ENV} is set: the daemon kills itself in the middle of a change; for tests only`)
  const daemon = await startDaemon(config, {
    logger,
    accessLogger: createAccessLogger(config.logLevel),
    ...(passphrase === undefined || passphrase === '' ? {} : { passphrase }),
    ...(testLogN === undefined || testLogN === '' ? {} : { seal: { logN: Number(testLogN) } }),
    ...(crashAt === undefined
      ? {}
      : { onCommitStep: (step, operation) => { if (step === crashAt.step && operation === crashAt.operation) process.kill(process.pid, 'SIGKILL') } })
  })
  // Listening before the banner says ready: a supervisor that stops the daemon the moment it reads "ready" must
  // find the handler, not the default action of SIGTERM (which ends the process without a clean stop).
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`ipidd: ${signal} again, exiting without a clean stop\n`)
      process.exit(EXIT_FAILED)
    }
    daemon.stop().then(() => {
      if (!json) process.stdout.write('ipidd stopped\n')
      process.exit(EXIT_OK)
    }, (err: unknown) => {
      process.stderr.write(`ipidd: stop failed: ${(err as Error).message}\n`)
      process.exit(EXIT_FAILED)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const held = daemon.identities.list()
  const { locked, expiries } = await daemon.unattended()
  const didauth = daemon.didauth?.describe()
  if (json) {
    process.stdout.write(`${JSON.stringify({
      version: VERSION,
      dataDir: config.dataDir,
      httpUrl: daemon.httpUrl,
      ...(daemon.probesUrl === undefined ? {} : { probesUrl: daemon.probesUrl }),
      ...(daemon.node === undefined ? { kuboUrl: config.ipfs.kuboUrl } : { peerId: daemon.node.peerId.toString(), addresses: daemon.node.multiaddrs() }),
      network: config.ipfs.network,
      identities: held,
      locked,
      ...(didauth === undefined ? {} : { didauth })
    })}\n`)
  } else {
    process.stdout.write([
      `ipidd ${VERSION}: did:ipid daemon`,
      `  data directory  ${config.dataDir}`,
      `  HTTP            ${daemon.httpUrl}  (GET /healthz)`,
      ...(daemon.probesUrl === undefined ? [] : [`  probes          ${daemon.probesUrl}  (/healthz, /readyz, /metrics to anyone who reaches it)`]),
      daemon.node === undefined
        ? `  IPFS            Kubo at ${config.ipfs.kuboUrl ?? ''}`
        : `  PeerId          ${daemon.node.peerId.toString()}\n  libp2p          ${daemon.node.multiaddrs().join('\n                  ')}`,
      `  network         ${config.ipfs.network}${config.ipfs.bootstrap.length === 0 && config.ipfs.network === 'local' ? ' (dials nobody until given --bootstrap peers)' : ''}`,
      ...(held.length === 0 ? ['  identities      none yet'] : held.map((i, n) => `${n === 0 ? '  identities      ' : '                  '}${i.did}  (${i.name}${i.deactivated ? ', deactivated' : ''})`)),
      ...locked.map((name, n) => {
        const expiry = expiries.find(e => e.name === name)
        return `${n === 0 ? '  locked          ' : '                  '}${name}: its record is not re-signed and ${expiry === undefined ? 'is not held here' : `expires ${formatTime(expiry.expiresAtMs)}`}`
      }),
      ...(locked.length === 0 ? [] : ['                  (start with IPIDD_PASSPHRASE, IPIDD_PASSPHRASE_FILE or --passphrase-file to re-sign)']),
      ...(didauth === undefined ? [] : [`  DIDAuth         ${describeDidAuth(didauth, held.filter(i => !i.deactivated).length)}`]),
      '  ready; press Ctrl-C to stop',
      ''
    ].join('\n'))
  }

}

/** The test-only crash point of TEST_CRASH_ENV; undefined when unset. */
async function testCrashPoint (value: string | undefined): Promise<{ operation: string, step: string } | undefined> {
  if (value === undefined || value === '') return undefined
  const { COMMIT_OPERATIONS, COMMIT_STEPS } = await import('../../identity/pending.ts')
  const [operation = '', step = ''] = value.split(':')
  if (!(COMMIT_OPERATIONS as readonly string[]).includes(operation) || !(COMMIT_STEPS as readonly string[]).includes(step)) {
    throw new UsageError('bad_test_crash_point', `${TEST_CRASH_ENV} must be <operation>:<step> (${COMMIT_OPERATIONS.join(', ')} : ${COMMIT_STEPS.join(', ')}) and is for tests only: unset it`)
  }
  return { operation, step }
}

/**
 * The passphrase that unlocks held identities at start: `--passphrase-file`, else `IPIDD_PASSPHRASE_FILE` (a
 * container's or service manager's secret file), else `IPIDD_PASSPHRASE`. A file others can read is refused
 * (exit 2), as `ipid` refuses it.
 */
async function daemonPassphrase (flagFile: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file = flagFile ?? (env.IPIDD_PASSPHRASE_FILE === '' ? undefined : env.IPIDD_PASSPHRASE_FILE)
  if (file !== undefined) return (await import('../prompt.ts')).readPassphraseFile(file)
  return env.IPIDD_PASSPHRASE === undefined || env.IPIDD_PASSPHRASE === '' ? undefined : env.IPIDD_PASSPHRASE
}

/** The banner's DIDAuth line: who this daemon proves itself as, and whether it can. */
function describeDidAuth (state: DidAuthState, active: number): string {
  if (state.identity === null && active === 0) return 'none yet (the first identity made is proved)'
  if (state.identity === null) return state.source === 'none' ? 'none: several identities and none chosen (ipid didauth NAME)' : 'none'
  if (state.did === undefined) return `${state.identity} (not held here: proves nothing)`
  return state.unlocked ? `${state.identity} (unlocked)` : `${state.identity} (locked: start with IPIDD_PASSPHRASE or --passphrase-file to prove it)`
}
