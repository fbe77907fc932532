#!/usr/bin/env node
/**
 * `ipid`: the command people use. For now it starts the daemon; identity, key and resolution commands come
 * with the parts they drive.
 */
import { existsSync } from 'node:fs'
import { Command, InvalidArgumentError } from 'commander'
import { ConfigError, list, loadConfig, parseCount, parsePort } from '../config.ts'
import { DaemonStartError, startDaemon } from '../daemon.ts'
import { createAccessLogger, createLogger } from '../log.ts'
import { VERSION } from '../version.ts'
import type { ConfigInput } from '../config.ts'

/** Exit codes (spec: README, "Exit codes"). */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

interface DaemonFlags {
  dataDir?: string
  config?: string
  httpHost?: string
  httpPort?: number
  logLevel?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  network?: string
  kuboUrl?: string
  cacheUrl?: string
  cacheMax?: number
  keepResolved?: boolean
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...list(value)]

const program = new Command()
  .name('ipid')
  .description('did:ipid identities on IPFS: run the daemon, manage identities, resolve DIDs')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride()

program.command('daemon')
  .description('start the ipidd daemon (embedded node, HTTP API) and run until Ctrl-C')
  .option('--data-dir <dir>', 'data directory (default ~/.ipidd, or $IPIDD_DATA)')
  .option('--config <file>', 'JSON config file (default <data-dir>/config.json when present)')
  .option('--http-host <host>', 'HTTP listen address (default 127.0.0.1)')
  .option('--http-port <port>', 'HTTP port (default 8080; 0 picks a free one)', (v: string) => {
    try { return parsePort(v, '--http-port') } catch (err) { throw new InvalidArgumentError((err as Error).message) }
  })
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
  .option('--listen <multiaddr>', 'libp2p listen address, repeatable (default /ip4/0.0.0.0/tcp/4001)', collect)
  .option('--announce <multiaddr>', 'address to announce instead of the listen addresses, repeatable', collect)
  .option('--bootstrap <multiaddr>', 'peer to connect to at start (with /p2p/<id>), repeatable', collect)
  .option('--network <profile>', 'local (default: dial only --bootstrap peers) or public (join the public IPFS network)')
  .option('--kubo-url <url>', 'use a Kubo node over its RPC API instead of the embedded node')
  .option('--cache-url <url>', 'cache store: sqlite:<file>, redis://…, postgres://… (default SQLite in the data directory)')
  .option('--cache-max <n>', 'most identities the cache holds; own and pinned ones are never evicted (default 100000)', (v: string) => {
    try { return parseCount(v, '--cache-max') } catch (err) { throw new InvalidArgumentError((err as Error).message) }
  })
  .option('--keep-resolved', 'the keeper republishes every identity resolved in the last day, not only own and pinned ones')
  .addHelpText('after', [
    '',
    'The passphrase in IPIDD_PASSPHRASE, if set, unlocks held identities so their records are republished.',
    '',
    'Examples:',
    '  $ ipid daemon',
    '  $ ipid daemon --data-dir ./node-a --http-port 8081 --listen /ip4/127.0.0.1/tcp/4002',
    '  $ ipid daemon --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…',
    '  $ ipid daemon --kubo-url http://127.0.0.1:5001',
    '  $ ipid daemon --cache-url redis://127.0.0.1:6379 --keep-resolved'
  ].join('\n'))
  .action(async (flags: DaemonFlags) => { await runDaemon(flags) })

async function runDaemon (flags: DaemonFlags): Promise<void> {
  const input: ConfigInput = {
    ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
    ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
    http: {
      ...(flags.httpHost === undefined ? {} : { host: flags.httpHost }),
      ...(flags.httpPort === undefined ? {} : { port: flags.httpPort })
    },
    ipfs: {
      ...(flags.listen === undefined ? {} : { listen: flags.listen }),
      ...(flags.announce === undefined ? {} : { announce: flags.announce }),
      ...(flags.bootstrap === undefined ? {} : { bootstrap: flags.bootstrap }),
      ...(flags.network === undefined ? {} : { network: flags.network }),
      ...(flags.kuboUrl === undefined ? {} : { backend: 'kubo', kuboUrl: flags.kuboUrl })
    },
    cache: {
      ...(flags.cacheUrl === undefined ? {} : { url: flags.cacheUrl }),
      ...(flags.cacheMax === undefined ? {} : { maxIdentities: flags.cacheMax }),
      ...(flags.keepResolved === true ? { keepResolved: true } : {})
    }
  }
  const config = loadConfig({ flags: input, ...(flags.config === undefined ? {} : { configFile: flags.config }), fileExists: existsSync })
  const logger = createLogger(config.logLevel)
  const passphrase = process.env.IPIDD_PASSPHRASE
  const daemon = await startDaemon(config, { logger, accessLogger: createAccessLogger(config.logLevel), ...(passphrase === undefined || passphrase === '' ? {} : { passphrase }) })
  const held = daemon.identities.list()
  process.stdout.write([
    `ipidd ${VERSION}: did:ipid daemon`,
    `  data directory  ${config.dataDir}`,
    `  HTTP            ${daemon.httpUrl}  (GET /healthz)`,
    daemon.node === undefined
      ? `  IPFS            Kubo at ${config.ipfs.kuboUrl ?? ''}`
      : `  PeerId          ${daemon.node.peerId.toString()}\n  libp2p          ${daemon.node.multiaddrs().join('\n                  ')}`,
    `  network         ${config.ipfs.network}${config.ipfs.bootstrap.length === 0 && config.ipfs.network === 'local' ? ' (dials nobody until given --bootstrap peers)' : ''}`,
    ...(held.length === 0 ? ['  identities      none yet'] : held.map((i, n) => `${n === 0 ? '  identities      ' : '                  '}${i.did}  (${i.name}${i.deactivated ? ', deactivated' : ''})`)),
    '  ready; press Ctrl-C to stop',
    ''
  ].join('\n'))

  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`ipidd: ${signal} again, exiting without a clean stop\n`)
      process.exit(EXIT_FAILED)
    }
    daemon.stop().then(() => {
      process.stdout.write('ipidd stopped\n')
      process.exit(EXIT_OK)
    }, (err: unknown) => {
      process.stderr.write(`ipidd: stop failed: ${(err as Error).message}\n`)
      process.exit(EXIT_FAILED)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

try {
  await program.parseAsync(process.argv)
} catch (err) {
  const code = (err as { code?: string }).code
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') {
    process.exit(EXIT_OK)
  }
  if (typeof code === 'string' && code.startsWith('commander.')) {
    process.exit(EXIT_USAGE)
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`ipid: ${err.message}\n`)
    process.exit(EXIT_USAGE)
  }
  if (err instanceof DaemonStartError) {
    process.stderr.write(`ipid: ${err.message}\n`)
    process.exit(EXIT_FAILED)
  }
  process.stderr.write(`ipid: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(EXIT_FAILED)
}
