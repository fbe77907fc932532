/** What `ipid` writes where: one JSON document with --json, colour only on a terminal without NO_COLOR, the spinner only on a terminal. */
import { describe, expect, it } from 'vitest'
import { CliError, EXIT_UNREACHABLE, UnreachableError, describeFailure } from '../../src/cli/errors.ts'
import { Output, SPINNER_DELAY_MS, colourEnabled, fields, table } from '../../src/cli/output.ts'

/** A stream that keeps what is written; `isTTY` as a terminal would set it. */
function stream (isTTY: boolean): { write: (text: string) => boolean, isTTY: boolean, text: () => string } {
  let text = ''
  return { write: (t: string) => { text += t; return true }, isTTY, text: () => text }
}

describe('colour', () => {
  it('only on a terminal, never with NO_COLOR (unless empty) or TERM=dumb', () => {
    expect(colourEnabled(stream(true), {})).toBe(true)
    expect(colourEnabled(stream(false), {})).toBe(false)
    expect(colourEnabled(stream(true), { NO_COLOR: '1' })).toBe(false)
    expect(colourEnabled(stream(true), { NO_COLOR: '' })).toBe(true)
    expect(colourEnabled(stream(true), { TERM: 'dumb' })).toBe(false)
    const tty = stream(true)
    new Output({ stdout: tty, stderr: stream(true), env: {} }).result({}, style => style.green('ok'))
    expect(tty.text()).toBe('\u001b[32mok\u001b[39m\n')
    const plain = stream(true)
    new Output({ stdout: plain, stderr: stream(true), env: { NO_COLOR: 'yes' } }).result({}, style => style.green('ok'))
    expect(plain.text()).toBe('ok\n')
  })
})

describe('--json', () => {
  it('prints the result as the one document on stdout, and notes nowhere', () => {
    const stdout = stream(false)
    const stderr = stream(false)
    const out = new Output({ json: true, stdout, stderr, env: {} })
    out.note('a note for people')
    out.result({ did: 'did:ipid:k51…', version: 2 }, () => 'human text')
    expect(JSON.parse(stdout.text())).toEqual({ did: 'did:ipid:k51…', version: 2 })
    expect(stderr.text()).toBe('')
    expect(() => { out.result({}, () => '') }).toThrow(/one result/)
  })

  it('prints a failure as { error } on stdout and one line on stderr; the stack only with --debug', () => {
    const stdout = stream(false)
    const stderr = stream(false)
    const failure = new Output({ json: true, stdout, stderr, env: {} }).fail(new UnreachableError('daemon_unreachable', 'daemon unreachable at http://127.0.0.1:8080: start it'))
    expect(failure.exitCode).toBe(EXIT_UNREACHABLE)
    expect(JSON.parse(stdout.text())).toEqual({ error: { exitCode: 3, reason: 'daemon_unreachable', message: 'daemon unreachable at http://127.0.0.1:8080: start it' } })
    expect(stderr.text()).toBe('ipid: daemon unreachable at http://127.0.0.1:8080: start it\n')
    const debug = stream(false)
    new Output({ debug: true, stdout: stream(false), stderr: debug, env: {} }).fail(new Error('boom'))
    expect(debug.text()).toMatch(/^ipid: unexpected error: boom; run again with --debug for details\nError: boom\n\s+at /)
  })
})

describe('failures', () => {
  it('are one line, with the exit code of their kind', () => {
    expect(describeFailure(new CliError(1, 'x', 'two\nlines  here'))).toEqual({ exitCode: 1, reason: 'x', message: 'two lines here' })
    expect(describeFailure(Object.assign(new Error('invalid configuration at "logLevel": bad'), { name: 'ConfigError' })).exitCode).toBe(2)
    expect(describeFailure(Object.assign(new Error('wrong passphrase'), { name: 'KeystoreError', reason: 'wrong_passphrase' }))).toMatchObject({ exitCode: 1, reason: 'wrong_passphrase' })
    expect(describeFailure('a string')).toMatchObject({ exitCode: 1, reason: 'unexpected' })
  })
})

describe('spinner', () => {
  it('turns on stderr on a terminal while a task is slow, and clears its line', async () => {
    const stderr = stream(true)
    const value = await new Output({ stdout: stream(true), stderr, env: {} }).spin('resolving…', async () => {
      await new Promise(resolve => setTimeout(resolve, SPINNER_DELAY_MS + 200))
      return 42
    })
    expect(value).toBe(42)
    expect(stderr.text()).toContain('resolving…')
    expect(stderr.text().endsWith('\r\u001b[2K')).toBe(true)
  })

  it('never shows off a terminal, nor for a quick task', async () => {
    const piped = stream(false)
    await new Output({ stdout: stream(false), stderr: piped, env: {} }).spin('x', async () => new Promise(resolve => setTimeout(resolve, SPINNER_DELAY_MS + 100)))
    expect(piped.text()).toBe('')
    const quick = stream(true)
    await new Output({ stdout: stream(true), stderr: quick, env: {} }).spin('x', async () => 1)
    expect(quick.text()).toBe('')
  })
})

describe('layout', () => {
  it('aligns fields and table columns, ignoring colour codes', () => {
    const plain = new Output({ stdout: stream(false), env: {} }).style
    expect(fields([['DID', 'did:ipid:k51'], ['version', '2'], ['skipped', undefined]], plain)).toEqual(['  DID      did:ipid:k51', '  version  2'])
    const coloured = new Output({ stdout: stream(true), env: {} }).style
    const rows = table(['NAME', 'DID'], [[coloured.bold('alice'), 'did:ipid:a'], ['bo', 'did:ipid:b']], plain)
    expect(rows).toEqual(['NAME   DID', `${coloured.bold('alice')}  did:ipid:a`, 'bo     did:ipid:b'])
  })
})
