import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

const preflight = createRequire(import.meta.url)('../scripts/preflight.cjs') as { tooOld: (v: string) => boolean, refusal: (v: string) => string }

describe('preflight (run before npm start / npm test)', () => {
  it('refuses Node older than 22.18 and names the fix', () => {
    expect(preflight.tooOld('v20.20.2')).toBe(true)
    expect(preflight.tooOld('v22.17.1')).toBe(true)
    expect(preflight.tooOld('v22.18.0')).toBe(false)
    expect(preflight.tooOld('v24.21.0')).toBe(false)
    expect(preflight.refusal('v20.20.2')).toContain('source scripts/use-node24.sh')
  })
})
