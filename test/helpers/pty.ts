/**
 * Runs a command in a pseudo-terminal (util-linux `script`), so that it sees a terminal on stdin and stderr as
 * a person's shell gives it: for the passphrase prompt and the typed confirmation. The test waits for a prompt
 * on the terminal's output, then types an answer. Output (stdout and stderr, as the terminal shows them) is
 * collected; `stdoutFile` receives stdout alone when the command redirects it (`> file`).
 */
import { spawn } from 'node:child_process'

export interface PtyRun {
  /** Resolves once `text` (or a match of the pattern) has appeared on the terminal since the last answer. */
  waitFor: (text: string | RegExp, timeoutMs?: number) => Promise<void>
  /** Types a line (Enter included). */
  type: (line: string) => void
  /** The terminal's whole output so far. */
  output: () => string
  /** The exit code of the command. */
  exited: Promise<number | null>
}

/** Runs `shellCommand` (a /bin/sh command line) in a pseudo-terminal, with `env` (default: this process's) and `cwd`. */
export function runInPty (shellCommand: string, options: { env?: NodeJS.ProcessEnv, cwd?: string } = {}): PtyRun {
  const child = spawn('script', ['-qfec', shellCommand, '/dev/null'], { cwd: options.cwd, env: { ...(options.env ?? process.env), TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] })
  let text = ''
  let consumed = 0
  const waiters: Array<() => void> = []
  const onData = (chunk: Buffer): void => {
    text += chunk.toString()
    for (const waiter of waiters.splice(0)) waiter()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number | null>(resolve => child.once('exit', code => {
    for (const waiter of waiters.splice(0)) waiter()
    resolve(code)
  }))
  let done = false
  void exited.then(() => { done = true })
  return {
    async waitFor (expected, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const rest = text.slice(consumed)
        const index = typeof expected === 'string' ? rest.indexOf(expected) : rest.search(expected)
        if (index >= 0) {
          const length = typeof expected === 'string' ? expected.length : (expected.exec(rest)?.[0].length ?? 0)
          consumed += index + length
          return
        }
        if (done) throw new Error(`the command ended before ${String(expected)} appeared; it wrote:\n${text}`)
        if (Date.now() > end) throw new Error(`${String(expected)} did not appear within ${timeoutMs} ms; the terminal shows:\n${text}`)
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, Math.max(0, end - Date.now()))
          waiters.push(() => { clearTimeout(timer); resolve() })
        })
      }
    },
    type (line) {
      child.stdin.write(`${line}\r`)
    },
    output: () => text,
    exited
  }
}
