import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../src/log.ts'

describe('logger', () => {
  it('redacts secrets by key name, however deep', () => {
    const lines: string[] = []
    const sink = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
    const logger = createLogger('info', sink)
    logger.info({ passphrase: 'hunter2', key: { privateKey: 'c2VjcmV0' }, req: { headers: { authorization: 'Bearer abc' } } }, 'unlock')
    expect(lines.join('')).not.toMatch(/hunter2|c2VjcmV0|Bearer abc/)
    expect(lines.join('')).toContain('[redacted]')
  })
})
