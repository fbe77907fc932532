/**
 * Passphrases and confirmations. A passphrase comes from, in this order: `--passphrase-file FILE` (first line),
 * `IPIDD_PASSPHRASE`, or a hidden prompt when stdin is a terminal (nothing is echoed). There is deliberately no
 * flag that takes the passphrase itself: command lines end up in shell history and `ps`. Prompts are written
 * to stderr, so `--json` output on stdout stays one document. Without a terminal and without either source the
 * command stops with a usage error naming both.
 */
import { readFileSync, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { MAX_PASSPHRASE_LENGTH, MIN_PASSPHRASE_LENGTH } from '../shared-constants.ts'
import { FailedError, UsageError } from './errors.ts'

/** How many times a new passphrase may be mistyped (too short, or the two entries differ) before giving up. */
export const NEW_PASSPHRASE_ATTEMPTS = 3

export interface PromptInput {
  isTTY?: boolean
  setRawMode?: (mode: boolean) => unknown
  on: (event: 'data', listener: (chunk: Buffer | string) => void) => unknown
  off: (event: 'data', listener: (chunk: Buffer | string) => void) => unknown
  resume: () => unknown
  pause: () => unknown
}

export interface PromptIo {
  stdin: PromptInput
  stderr: { write: (text: string) => unknown }
  env: NodeJS.ProcessEnv
}

export function processIo (): PromptIo {
  return { stdin: process.stdin, stderr: process.stderr, env: process.env }
}

export interface PassphraseOptions {
  /** What the passphrase is for, shown in the prompt (an identity name). */
  subject: string
  /** A new passphrase: checked for length, and asked twice on a terminal. */
  create?: boolean
  /** `--passphrase-file`. */
  file?: string
  /** Printed above the prompt on a terminal (e.g. "Choose a passphrase: …"). */
  intro?: string
}

/** The passphrase, from the file, the environment or a hidden prompt. */
export async function getPassphrase (options: PassphraseOptions, io: PromptIo = processIo()): Promise<string> {
  if (options.file !== undefined) return checked(readPassphraseFile(options.file), options, '--passphrase-file')
  const fromEnv = io.env.IPIDD_PASSPHRASE
  if (fromEnv !== undefined && fromEnv !== '') return checked(fromEnv, options, 'IPIDD_PASSPHRASE')
  if (io.stdin.isTTY !== true || io.stdin.setRawMode === undefined) {
    throw new UsageError('passphrase_needed', 'a passphrase is needed and there is no terminal to ask it on: set IPIDD_PASSPHRASE or pass --passphrase-file FILE')
  }
  if (options.intro !== undefined) io.stderr.write(`${options.intro}\n`)
  if (options.create !== true) return readHidden(`Passphrase for ${options.subject}: `, io)
  for (let attempt = 1; ; attempt++) {
    const first = await readHidden(`New passphrase for ${options.subject}: `, io)
    const problem = first.length < MIN_PASSPHRASE_LENGTH
      ? `at least ${MIN_PASSPHRASE_LENGTH} characters, please`
      : first.length > MAX_PASSPHRASE_LENGTH ? `at most ${MAX_PASSPHRASE_LENGTH} characters, please` : undefined
    if (problem === undefined) {
      if (await readHidden('Repeat it: ', io) === first) return first
    }
    if (attempt >= NEW_PASSPHRASE_ATTEMPTS) throw new UsageError('passphrase_mismatch', 'no passphrase chosen: the entries were too short or did not match; run the command again')
    io.stderr.write(`${problem ?? 'the two entries differ'}; try again\n`)
  }
}

function checked (passphrase: string, options: PassphraseOptions, source: string): string {
  if (options.create === true && passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new UsageError('weak_passphrase', `the passphrase from ${source} is shorter than ${MIN_PASSPHRASE_LENGTH} characters: choose a longer one`)
  }
  if (passphrase.length > MAX_PASSPHRASE_LENGTH) throw new UsageError('passphrase_too_long', `the passphrase from ${source} is longer than ${MAX_PASSPHRASE_LENGTH} characters`)
  return passphrase
}

/**
 * The first line of a passphrase file (a trailing newline is not part of it). A plain file others can read is
 * refused, as ssh refuses such a private key; pipes (`--passphrase-file <(pass show ipid)`) are read as they are.
 */
export function readPassphraseFile (path: string): string {
  let text: string
  try {
    const stat = statSync(path)
    if (stat.size > MAX_PASSPHRASE_LENGTH * 4 + 2) throw new UsageError('bad_passphrase_file', `${path} is too large to be a passphrase file`)
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0 && stat.isFile()) {
      throw new UsageError('bad_passphrase_file', `${path} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\` first`)
    }
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError('bad_passphrase_file', `cannot read the passphrase file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const passphrase = text.split(/\r?\n/)[0] ?? ''
  if (passphrase === '') throw new UsageError('bad_passphrase_file', `${path} is empty: its first line is the passphrase`)
  return passphrase
}

/** The state of a hidden line being typed. */
export interface LineState {
  text: string
  done: boolean
  cancelled: boolean
}

/**
 * Applies typed input to a hidden line: Enter ends it, Backspace/Delete removes a character, Ctrl-U clears the
 * line, Ctrl-C cancels, Ctrl-D cancels an empty line; other control characters and escape sequences (arrow
 * keys) are ignored. Pure, so that it is tested without a terminal.
 */
export function editLine (state: LineState, input: string): LineState {
  let { text } = state
  const chars = [...input]
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (c === '\r' || c === '\n') return { text, done: true, cancelled: false }
    if (c === '\u0003') return { text: '', done: true, cancelled: true }
    if (c === '\u0004') {
      if (text === '') return { text: '', done: true, cancelled: true }
      continue
    }
    if (c === '\u007f' || c === '\b') {
      text = [...text].slice(0, -1).join('')
      continue
    }
    if (c === '\u0015') {
      text = ''
      continue
    }
    if (c === '\u001b') {
      // CSI sequences: ESC [ parameters final-byte.
      if (chars[i + 1] === '[') {
        i += 2
        while (i < chars.length && !/[@-~]/.test(chars[i]!)) i++
      }
      continue
    }
    if (c < ' ') continue
    text += c
  }
  return { text, done: false, cancelled: false }
}

/** Reads one line from a terminal in raw mode, echoing nothing. */
async function readHidden (prompt: string, io: PromptIo): Promise<string> {
  const { stdin } = io
  // Raw mode (no echo) before the prompt shows: whatever is typed in answer is never echoed.
  stdin.setRawMode?.(true)
  io.stderr.write(prompt)
  try {
    return await new Promise<string>((resolve, reject) => {
      let state: LineState = { text: '', done: false, cancelled: false }
      const onData = (chunk: Buffer | string): void => {
        state = editLine(state, chunk.toString())
        if (!state.done) return
        stdin.off('data', onData)
        io.stderr.write('\n')
        if (state.cancelled) reject(new FailedError('cancelled', 'cancelled: nothing was changed'))
        else resolve(state.text)
      }
      stdin.on('data', onData)
      stdin.resume()
    })
  } finally {
    stdin.setRawMode?.(false)
    stdin.pause()
  }
}

/**
 * Shows `intro`, then asks the person to type `expected` (e.g. the DID about to be deactivated). True only for an
 * exact match (surrounding blanks ignored). Needs a terminal: scripts confirm with a flag (`--yes`), named in
 * `flagHint`.
 */
export async function confirmByTyping (intro: string, question: string, expected: string, flagHint: string, io: PromptIo = processIo()): Promise<boolean> {
  if (io.stdin.isTTY !== true) {
    throw new UsageError('confirmation_needed', `this needs a confirmation and there is no terminal to ask it on: pass ${flagHint} to confirm`)
  }
  io.stderr.write(intro)
  const answer = await askLine(question, io)
  return answer !== undefined && answer.trim() === expected
}

/** A yes/no question on a terminal; `no` unless the person types y or yes (no terminal: `no`, nothing asked). */
export async function askYesNo (question: string, io: PromptIo = processIo()): Promise<boolean> {
  if (io.stdin.isTTY !== true) return false
  const answer = await askLine(question, io)
  return answer !== undefined && /^\s*y(es)?\s*$/i.test(answer)
}

/** One line typed on the terminal (echoed); undefined on Ctrl-C or Ctrl-D. */
async function askLine (question: string, io: PromptIo): Promise<string | undefined> {
  const rl = createInterface({ input: io.stdin as NodeJS.ReadableStream, output: io.stderr as NodeJS.WritableStream, terminal: true })
  try {
    return await new Promise<string | undefined>(resolve => {
      rl.once('close', () => { resolve(undefined) })
      rl.once('SIGINT', () => { resolve(undefined) })
      rl.question(question, resolve)
    })
  } finally {
    rl.close()
    io.stdin.pause()
  }
}
