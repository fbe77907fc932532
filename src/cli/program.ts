/**
 * The `ipid` program: every command, wired. Each command group lives in `commands/`, the daemon client in
 * `api.ts`, output in `output.ts`, prompts in `prompt.ts`, exit codes in `errors.ts`; `main.ts` runs it. Heavy
 * parts (the daemon, the embedded node) are loaded only by the commands that need them, so the others start
 * quickly.
 */
import { Command } from 'commander'
import { VERSION } from '../version.ts'
import { register as registerAuth } from './commands/auth.ts'
import { register as registerDaemon } from './commands/daemon.ts'
import { register as registerIdentities } from './commands/identities.ts'
import { register as registerKeys } from './commands/keys.ts'
import { register as registerPins } from './commands/pins.ts'
import { register as registerResolve } from './commands/resolve.ts'
import { register as registerServices } from './commands/services.ts'
import { register as registerSign } from './commands/sign.ts'
import { common, examples, run } from './commands/shared.ts'
import { register as registerStatus } from './commands/status.ts'
import { SHELLS, completionScript } from './completion.ts'
import { UsageError, oneLine } from './errors.ts'
import type { Shell } from './completion.ts'

let lastUsageError: string | undefined

/** The one-line message of the last usage error commander reported (for `{ error }` with --json). */
export function usageError (): string | undefined {
  return lastUsageError
}

export function buildProgram (): Command {
  const program = new Command()
    .name('ipid')
    .description('did:ipid identities on IPFS: run the daemon, manage identities and keys, resolve DIDs, check peers')
    .version(VERSION)
    .exitOverride()
  registerDaemon(program)
  registerIdentities(program)
  registerKeys(program)
  registerServices(program)
  registerResolve(program)
  registerPins(program)
  registerSign(program)
  registerAuth(program)
  registerStatus(program)
  examples(common(program.command('completion'), { daemon: false })
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', SHELLS.join(' or '))
    .action(run(async ({ args, out }) => {
      const shell = args[0] as Shell
      if (!SHELLS.includes(shell)) throw new UsageError('bad_shell', `no completion for "${shell}": choose ${SHELLS.join(' or ')}`)
      const script = completionScript(shell, program)
      out.result({ shell, script }, () => script.trimEnd())
    })), ['source <(ipid completion bash)', 'ipid completion zsh > "${fpath[1]}/_ipid"'])
  program.addHelpText('after', [
    '',
    'Every command takes --json (one JSON document on stdout) and --help (with examples).',
    'Passphrases come from a hidden prompt, $IPIDD_PASSPHRASE, or --passphrase-file; never from a flag.',
    '',
    'Exit codes: 0 success, 1 the operation failed, 2 usage error, 3 daemon unreachable.',
    '',
    'Examples:',
    '  $ ipid daemon                          # start the daemon (data in ~/.ipidd, HTTP on 127.0.0.1:8080)',
    '  $ ipid init --name alice               # create an identity and publish it',
    '  $ ipid key rotate alice                # replace its authentication key',
    '  $ ipid sign --aud https://app.example  # a login JWT signed with it',
    '  $ ipid resolve did:ipid:k51qzi5uqu5dl…  # look anyone up',
    '  $ ipid history did:ipid:k51qzi5uqu5dl…  # every version, who signed it, what changed'
  ].join('\n'))
  // Commander's own errors (unknown option, missing argument) as one line naming the help to read.
  const oneLineErrors = (command: Command, path: string): void => {
    command.configureOutput({
      outputError: (text, write) => {
        lastUsageError = `${oneLine(text.replace(/^error: /, ''))}: see \`${path} --help\``
        write(`ipid: ${lastUsageError}\n`)
      }
    })
    for (const sub of command.commands) oneLineErrors(sub, `${path} ${sub.name()}`)
  }
  oneLineErrors(program, 'ipid')
  return program
}
