/**
 * What `ipid` writes. With `--json`, stdout carries exactly one JSON document — the result, or `{ error }` —
 * and nothing else; without it, text for people, coloured only when stdout is a terminal and `NO_COLOR` is
 * unset (https://no-color.org). Notes, warnings and the spinner go to stderr; the spinner only when stderr is a
 * terminal, so logs and pipes never see it.
 */
import { describeFailure } from './errors.ts'
import type { Failure } from './errors.ts'

/** Frames of the spinner, and how often it turns. */
const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
export const SPINNER_INTERVAL_MS = 80
/** A spinner appears only for waits longer than this, so quick answers do not flicker. */
export const SPINNER_DELAY_MS = 250

export interface Stream {
  write: (text: string) => unknown
  isTTY?: boolean
}

export interface Style {
  bold: (text: string) => string
  dim: (text: string) => string
  green: (text: string) => string
  red: (text: string) => string
  yellow: (text: string) => string
  cyan: (text: string) => string
}

const sgr = (open: number, close: number) => (text: string): string => `\u001b[${open}m${text}\u001b[${close}m`
const COLOURED: Style = { bold: sgr(1, 22), dim: sgr(2, 22), green: sgr(32, 39), red: sgr(31, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) }
const identity = (text: string): string => text
const PLAIN: Style = { bold: identity, dim: identity, green: identity, red: identity, yellow: identity, cyan: identity }

/** Colour on this stream: a terminal, `NO_COLOR` unset or empty, and not a dumb terminal. */
export function colourEnabled (stream: Stream, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb'
}

export interface OutputOptions {
  json?: boolean
  debug?: boolean
  stdout?: Stream
  stderr?: Stream
  env?: NodeJS.ProcessEnv
}

export class Output {
  readonly json: boolean
  readonly debug: boolean
  /** Styles for stdout and for stderr (each coloured only if that stream may be). */
  readonly style: Style
  readonly errStyle: Style
  private readonly stdout: Stream
  private readonly stderr: Stream
  private readonly spinnerAllowed: boolean
  private written = false

  constructor (options: OutputOptions = {}) {
    const env = options.env ?? process.env
    this.json = options.json === true
    this.debug = options.debug === true
    this.stdout = options.stdout ?? process.stdout
    this.stderr = options.stderr ?? process.stderr
    this.style = colourEnabled(this.stdout, env) ? COLOURED : PLAIN
    this.errStyle = colourEnabled(this.stderr, env) ? COLOURED : PLAIN
    this.spinnerAllowed = this.stderr.isTTY === true && env.TERM !== 'dumb'
  }

  /** The command's result: `data` as the one JSON document, or the human text. Called once per command. */
  result (data: unknown, human: (style: Style) => string | string[]): void {
    if (this.written) throw new Error('a command writes one result')
    this.written = true
    if (this.json) {
      this.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
      return
    }
    const text = human(this.style)
    const lines = Array.isArray(text) ? text.join('\n') : text
    if (lines !== '') this.stdout.write(`${lines}\n`)
  }

  /** A note for people, on stderr (not with --json: scripts get the document alone). */
  note (text: string): void {
    if (!this.json) this.stderr.write(`${text}\n`)
  }

  /** A warning, on stderr, even with --json. */
  warn (text: string): void {
    this.stderr.write(`${this.errStyle.yellow('warning:')} ${text}\n`)
  }

  /** Reports a failure: one line on stderr, `{ error }` on stdout with --json, the stack with --debug. */
  fail (err: unknown): Failure {
    const failure = describeFailure(err)
    this.stderr.write(`${this.errStyle.red('ipid:')} ${failure.message}\n`)
    if (this.debug && err instanceof Error && err.stack !== undefined) this.stderr.write(`${err.stack}\n`)
    if (this.json && !this.written) {
      this.written = true
      this.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`)
    }
    return failure
  }

  /** Runs `task` with a spinner and `text` on stderr while it takes longer than SPINNER_DELAY_MS (terminals only). */
  async spin<T> (text: string, task: () => Promise<T>): Promise<T> {
    if (!this.spinnerAllowed) return task()
    let frame = 0
    let shown = false
    const draw = (): void => {
      shown = true
      this.stderr.write(`\r\u001b[2K${this.errStyle.cyan(SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length]!)} ${text}`)
    }
    let timer: NodeJS.Timeout | undefined
    const delay = setTimeout(() => {
      draw()
      timer = setInterval(draw, SPINNER_INTERVAL_MS)
    }, SPINNER_DELAY_MS)
    try {
      return await task()
    } finally {
      clearTimeout(delay)
      clearInterval(timer)
      if (shown) this.stderr.write('\r\u001b[2K')
    }
  }
}

/** Aligned `label  value` lines, labels padded to the longest. */
export function fields (rows: Array<[string, string | undefined]>, style: Style, indent = '  '): string[] {
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined)
  const width = Math.max(0, ...shown.map(([label]) => label.length))
  return shown.map(([label, value]) => `${indent}${style.dim(label.padEnd(width))}  ${value}`)
}

/** A table with a header row; columns padded to their widest cell (colour codes not counted). */
export function table (header: string[], rows: string[][], style: Style): string[] {
  const visible = (text: string): number => text.replace(/\u001b\[[0-9;]*m/g, '').length
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => visible(r[i] ?? ''))))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))).join('  ')
  return [style.dim(line(header)), ...rows.map(line)]
}
