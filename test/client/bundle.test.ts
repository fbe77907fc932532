/**
 * The app entry's budget (issue 11): an esbuild browser bundle of `ipidd/resolver` (src/client/index.ts) builds
 * with no errors and stays under 60 KB minified, did-resolver and did-jwt left out; and its module graph, for the
 * browser and for Node, holds no `node:` module, Helia, libp2p, express or SQLite — only ipidd's own light modules
 * and the two DID libraries.
 */
import { describe, expect, it } from 'vitest'
import { BUNDLE_BUDGET_BYTES, DID_LIBRARIES, bundleClient } from '../helpers/package.ts'
import type { Metafile } from 'esbuild'

const FORBIDDEN = /^node:|helia|libp2p|express|sqlite|keyv|kubo|pino|commander/i

/** Every module the bundle reads, and every import it leaves outside (externals, builtins). */
function graphOf (metafile: Metafile): { inputs: string[], externals: string[] } {
  const inputs = Object.keys(metafile.inputs)
  const externals = [...new Set(Object.values(metafile.inputs).flatMap(input => input.imports.filter(i => i.external === true).map(i => i.path)))]
  return { inputs, externals }
}

describe('the ipidd/resolver bundle', () => {
  it('builds for the browser without errors, under 60 KB minified, from light modules only', async () => {
    const { bytes, errors, warnings, metafile } = await bundleClient('browser')
    expect(errors).toBe(0)
    expect(warnings).toBe(0)
    expect(bytes).toBeLessThan(BUNDLE_BUDGET_BYTES)
    const { inputs, externals } = graphOf(metafile)
    expect(inputs.filter(path => FORBIDDEN.test(path) || path.includes('node_modules'))).toEqual([])
    expect(externals.sort()).toEqual([...DID_LIBRARIES].sort())
  })

  it('imports nothing of the daemon in Node either: no node: module, no Helia, libp2p, express or SQLite', async () => {
    const { errors, metafile } = await bundleClient('node')
    expect(errors).toBe(0)
    const { inputs, externals } = graphOf(metafile)
    expect(inputs.every(path => path.startsWith('src/'))).toBe(true)
    expect(inputs.filter(path => FORBIDDEN.test(path))).toEqual([])
    expect(externals.filter(path => FORBIDDEN.test(path))).toEqual([])
    expect(externals.sort()).toEqual([...DID_LIBRARIES].sort())
  })
})
