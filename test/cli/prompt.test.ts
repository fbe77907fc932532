/** Passphrases: the line editing of the hidden prompt, the passphrase file, and where a passphrase may come from. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { confirmByTyping, editLine, getPassphrase, readPassphraseFile } from '../../src/cli/prompt.ts'
import type { LineState, PromptIo } from '../../src/cli/prompt.ts'

const start: LineState = { text: '', done: false, cancelled: false }
const typed = (...chunks: string[]): LineState => chunks.reduce(editLine, start)

/** No terminal: stdin is a plain stream. */
function noTerminal (env: NodeJS.ProcessEnv = {}): PromptIo {
  return { stdin: new PassThrough(), stderr: { write: () => true }, env }
}

describe('the hidden line', () => {
  it('ends at Enter; Backspace, Delete and Ctrl-U edit; arrow keys and control characters are ignored', () => {
    expect(typed('secret\r')).toEqual({ text: 'secret', done: true, cancelled: false })
    expect(typed('secx', '\u007f', 'ret', '\n')).toMatchObject({ text: 'secret', done: true })
    expect(typed('sec', '\b', 'c', '\u001b[D', '\u001b[A', '\u0007', 'ret\r')).toMatchObject({ text: 'secret' })
    expect(typed('wrong', '\u0015', 'right\r')).toMatchObject({ text: 'right' })
    expect(typed('pässwört 🔑\r')).toMatchObject({ text: 'pässwört 🔑' })
    expect(typed('🔑', '\u007f', 'a\r')).toMatchObject({ text: 'a' })
    expect(typed('abc')).toMatchObject({ text: 'abc', done: false })
  })

  it('is cancelled by Ctrl-C, and by Ctrl-D on an empty line', () => {
    expect(typed('abc\u0003')).toEqual({ text: '', done: true, cancelled: true })
    expect(typed('\u0004')).toMatchObject({ done: true, cancelled: true })
    expect(typed('ab\u0004c\r')).toMatchObject({ text: 'abc', done: true, cancelled: false })
  })
})

describe('where the passphrase comes from', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-prompt-'))

  it('a file: its first line; refused when others can read it, empty, or missing', () => {
    const file = join(dir, 'pass')
    writeFileSync(file, 'the passphrase\r\nsecond line\n', { mode: 0o600 })
    expect(readPassphraseFile(file)).toBe('the passphrase')
    chmodSync(file, 0o640)
    expect(() => readPassphraseFile(file)).toThrow(/can be read by other users \(mode 640\)/)
    writeFileSync(join(dir, 'empty'), '\n', { mode: 0o600 })
    expect(() => readPassphraseFile(join(dir, 'empty'))).toThrow(/is empty/)
    expect(() => readPassphraseFile(join(dir, 'missing'))).toThrow(/cannot read the passphrase file .*ENOENT/)
  })

  it('the file first, then IPIDD_PASSPHRASE; without either and without a terminal, a usage error naming both', async () => {
    const file = join(dir, 'first')
    writeFileSync(file, 'from the file\n', { mode: 0o600 })
    expect(await getPassphrase({ subject: 'alice', file }, noTerminal({ IPIDD_PASSPHRASE: 'from the environment' }))).toBe('from the file')
    expect(await getPassphrase({ subject: 'alice' }, noTerminal({ IPIDD_PASSPHRASE: 'from the environment' }))).toBe('from the environment')
    await expect(getPassphrase({ subject: 'alice' }, noTerminal())).rejects.toMatchObject({ exitCode: 2, reason: 'passphrase_needed', message: expect.stringMatching(/set IPIDD_PASSPHRASE or pass --passphrase-file FILE/) })
    await expect(getPassphrase({ subject: 'alice', create: true }, noTerminal({ IPIDD_PASSPHRASE: 'short' }))).rejects.toMatchObject({ exitCode: 2, reason: 'weak_passphrase' })
  })

  it('a confirmation needs a terminal: without one, a usage error naming the flag', async () => {
    await expect(confirmByTyping('', 'Type the DID: ', 'did:ipid:k51', '--yes', noTerminal())).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/pass --yes to confirm/) })
  })
})
