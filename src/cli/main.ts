#!/usr/bin/env node
/**
 * `ipid`: the command people use — run the daemon, manage identities and keys, resolve DIDs, check peers
 * (the commands: program.ts). Exit codes: 0 success, 1 failed, 2 usage error, 3 daemon unreachable (errors.ts).
 *
 * Node's compile cache is turned on first, in the user's own cache directory (never a shared /tmp one), and the
 * program is loaded after it: a command then starts in a fraction of the time. `NODE_DISABLE_COMPILE_CACHE=1`
 * turns it off.
 */
import { mkdirSync } from 'node:fs'
import module from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

try {
  const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ipidd', 'compile-cache')
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
  module.enableCompileCache?.(cacheDir)
} catch {}

const [{ buildProgram, usageError }, { exitCode }, { EXIT_FAILED, EXIT_OK, EXIT_USAGE, oneLine }] = await Promise.all([
  import('./program.ts'), import('./commands/shared.ts'), import('./errors.ts')
])

/**
 * With --json, a failure before any command ran (a usage error found by the parser, an unexpected error) is
 * still the one JSON document on stdout, as every other failure is.
 */
function jsonFailure (argv: string[], exitCode: number, reason: string, message: string): void {
  const words = argv.slice(2)
  const end = words.indexOf('--')
  if (!(end === -1 ? words : words.slice(0, end)).includes('--json')) return
  process.stdout.write(`${JSON.stringify({ error: { exitCode, reason, message: oneLine(message) } }, null, 2)}\n`)
}

async function main (argv: string[]): Promise<void> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    const { code, exitCode: commanderExit } = err as { code?: string, exitCode?: number }
    if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(EXIT_OK)
    // Help shown because a command was incomplete (`ipid key`) exits as a usage error; `ipid help` exits 0.
    if (code === 'commander.help') {
      if (commanderExit === 0) process.exit(EXIT_OK)
      jsonFailure(argv, EXIT_USAGE, 'usage', 'a command is missing: see the help on stderr')
      process.exit(EXIT_USAGE)
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      jsonFailure(argv, EXIT_USAGE, 'usage', usageError() ?? (err as Error).message)
      process.exit(EXIT_USAGE)
    }
    const message = `unexpected error: ${(err as Error).message}`
    process.stderr.write(`ipid: ${oneLine(message)}\n`)
    jsonFailure(argv, EXIT_FAILED, 'unexpected', message)
    process.exit(EXIT_FAILED)
  }
  // The daemon runs on until a signal; every other command is done.
  if (program.args[0] === 'daemon' && exitCode() === EXIT_OK) return
  process.exit(exitCode())
}

await main(process.argv)
