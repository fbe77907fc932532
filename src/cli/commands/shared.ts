/**
 * What every command shares: the common options (`--json`, `--debug`, `--data-dir`, `--api`), the action
 * wrapper that turns any failure into one line and an exit code, the admin client of the chosen daemon, and the
 * identity name that defaults to the only one held.
 */
import { createRequire } from 'node:module'
import { InvalidArgumentError, Option } from 'commander'
import { AdminClient, findDaemon } from '../api.ts'
import { CliError, EXIT_FAILED, EXIT_OK, UsageError } from '../errors.ts'
import { Output } from '../output.ts'
import { getPassphrase } from '../prompt.ts'
import type { Command } from 'commander'
import type { Target } from '../api.ts'
import type { IdentitySummary } from '../../identity/identities.ts'
import type * as Multiaddrs from '@multiformats/multiaddr'

export interface CommonFlags {
  json?: boolean
  debug?: boolean
  dataDir?: string
  api?: string
  passphraseFile?: string
}

/** The options every command has; `daemon` adds --data-dir and --api for the commands that talk to one. */
export function common (command: Command, options: { daemon?: boolean, passphrase?: boolean } = {}): Command {
  command
    .option('--json', 'print one JSON document on stdout (for scripts)')
    .option('--debug', 'print stack traces of errors')
  if (options.daemon !== false) {
    command
      .option('--data-dir <dir>', 'the daemon\'s data directory, where its admin token is (default ~/.ipidd, or $IPIDD_DATA)')
      .option('--api <url>', 'the daemon\'s HTTP URL (default: the one running on the data directory, or $IPIDD_API)')
  }
  if (options.passphrase === true) {
    command.option('--passphrase-file <file>', 'read the passphrase from the first line of this file (else $IPIDD_PASSPHRASE, else a prompt)')
  }
  return command
}

/** `--update-key FILE`, for the commands that change an identity. */
export function updateKeyOption (command: Command): Command {
  return command.addOption(new Option('--update-key <file>', 'the cold key file, once `ipid keys cold` moved the update keys off the daemon'))
}

/**
 * The parser of a repeatable multiaddr option (values also separated by commas or blanks): each is parsed, so a
 * malformed one is a usage error at once. The parser is loaded only when the option is given.
 */
export function multiaddrs (value: string, previous: string[] = []): string[] {
  const { multiaddr } = createRequire(import.meta.url)('@multiformats/multiaddr') as typeof Multiaddrs
  const parsed = value.split(/[\s,]+/).filter(v => v !== '').map(text => {
    try {
      multiaddr(text)
      return text
    } catch (err) {
      const which = text === value.trim() ? '' : ` ("${text}")`
      throw new InvalidArgumentError(`Not a multiaddr${which}: ${(err as Error).message}; give one such as /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…`)
    }
  })
  if (parsed.length === 0) throw new InvalidArgumentError('no multiaddr given')
  return [...previous, ...parsed]
}

/** Examples after the options in `--help`. */
export function examples (command: Command, lines: string[], notes: string[] = []): Command {
  return command.addHelpText('after', ['', ...notes, ...(notes.length === 0 ? [] : ['']), 'Examples:', ...lines.map(l => `  $ ${l}`)].join('\n'))
}

/** The outcome of a command run: its exit code (0 unless it failed). */
let lastExitCode = EXIT_OK
export function exitCode (): number {
  return lastExitCode
}

/**
 * Wraps a command's action: builds its Output from the flags, and reports any failure as one line (and as
 * `{ error }` with --json), recording the exit code for main.
 */
export function run<F extends CommonFlags> (handler: (ctx: { args: Array<string | undefined>, flags: F, out: Output, command: Command }) => Promise<number | void>) {
  return async (...params: unknown[]): Promise<void> => {
    const command = params.at(-1) as Command
    const flags = command.opts<F>()
    // The declared arguments, in order (an optional one not given is undefined).
    const args = params.slice(0, -2).map(a => a === undefined ? undefined : String(a))
    const out = new Output({ json: flags.json === true, debug: flags.debug === true })
    try {
      lastExitCode = (await handler({ args, flags, out, command })) ?? EXIT_OK
    } catch (err) {
      lastExitCode = out.fail(err).exitCode
    }
  }
}

/** The daemon these flags point at, and its admin client. */
export async function adminOf (flags: CommonFlags): Promise<AdminClient> {
  return new AdminClient(await targetOf(flags))
}

export async function targetOf (flags: CommonFlags): Promise<Target> {
  return findDaemon({ ...(flags.api === undefined ? {} : { api: flags.api }), ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }) })
}

/** The identity a command acts on: the one named, else the only one held. */
export async function identityName (admin: AdminClient, given: string | undefined, command: string): Promise<string> {
  if (given !== undefined) return given
  const { identities } = await admin.get<{ identities: IdentitySummary[] }>('/identities')
  if (identities.length === 1) return identities[0]!.name
  if (identities.length === 0) throw new CliError(EXIT_FAILED, 'no_identity', 'this daemon holds no identity yet: create one with `ipid init`')
  throw new UsageError('name_needed', `this daemon holds ${identities.length} identities (${identities.map(i => i.name).join(', ')}): name one, e.g. \`ipid ${command} ${identities[0]!.name}\``)
}

/** The identity a command acts on, as `[name]` or `--name` (see `namedIdentity`). */
export function withNameArgument (command: Command): Command {
  return command
    .argument('[name]', 'the identity (default: the only one held)')
    .option('-n, --name <name>', 'the identity, as an option')
}

/** The identity named by `withNameArgument`'s argument or option, else the only one held. */
export async function namedIdentity (admin: AdminClient, args: ReadonlyArray<string | undefined>, flags: { name?: string }, command: string): Promise<string> {
  return identityName(admin, oneName(args[0], flags.name), command)
}

/** Both spellings agree, or only one was given: `ipid show alice` and `ipid show --name alice`. */
export function oneName (positional: string | undefined, option: string | undefined): string | undefined {
  if (positional !== undefined && option !== undefined && positional !== option) {
    throw new UsageError('two_names', `two identity names given ("${positional}" and --name "${option}"): give one`)
  }
  return positional ?? option
}

/** A DID checked before the daemon or the network is asked: a malformed one is a usage error (exit 2). */
export async function checkDid (did: string): Promise<string> {
  const { parseDid } = await import('../../did/identifier.ts')
  try {
    return parseDid(did).did
  } catch (err) {
    throw new UsageError((err as { reason?: string }).reason ?? 'invalid_did', `"${did}" is not a did:ipid DID (${(err as Error).message}): give one such as did:ipid:k51qzi5uqu5dl…`)
  }
}

export async function passphraseFor (flags: CommonFlags, subject: string, create = false): Promise<string> {
  return getPassphrase({ subject, create, ...(flags.passphraseFile === undefined ? {} : { file: flags.passphraseFile }) })
}
