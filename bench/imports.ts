/**
 * The app entry (issue 11): the size of its browser bundle, and how long a cold `import('ipidd/resolver')` takes
 * in Node against importing did-jwt alone (which the entry imports itself) and the full `ipidd` main entry.
 *
 * ipidd is packed (`npm pack` of a build, as an app installs it) into two apps: one holding only ipidd, did-jwt
 * and did-resolver, one holding every package of this checkout. Each import is timed in a fresh Node process
 * (`performance.now()` around `await import(…)`, so Node's own start-up is left out; the process's whole wall
 * time is shown too), several times in turn, and the median kept. The file cache is warm after the first run:
 * "cold" means a new process, with nothing of the module graph loaded.
 */
import { spawnSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { BUNDLE_BUDGET_BYTES, DID_LIBRARIES, appWith, bundleClient, packIpidd } from '../test/helpers/package.ts'
import { percentiles } from './harness.ts'

/** Fresh processes per import, taken in turn so that machine noise spreads over all of them. */
const RUNS = 15
/** The budget for a cold import of the app entry in Node. */
const IMPORT_BUDGET_MS = 300
export const IMPORTS_HEADING = '## App entry: bundle size and import time (issue 11)'

interface Target { name: string, app: 'light' | 'full', specifier: string }

const TARGETS: Target[] = [
  { name: 'baseline: did-jwt alone', app: 'light', specifier: 'did-jwt' },
  { name: 'ipidd/resolver (imports did-jwt and did-resolver)', app: 'light', specifier: 'ipidd/resolver' },
  { name: 'ipidd (the full library: daemon, embedded node, HTTP)', app: 'full', specifier: 'ipidd' }
]

/** One cold import in a new process: the import's own time and the process's wall time, in ms. */
function coldImport (app: string, script: string): { importMs: number, wallMs: number } {
  const started = performance.now()
  const result = spawnSync(process.execPath, [script], { cwd: app, encoding: 'utf8' })
  const wallMs = performance.now() - started
  if (result.status !== 0) throw new Error(`import failed in ${app}: ${result.stderr}`)
  return { importMs: Number(result.stdout.trim().split('\n').at(-1)), wallMs }
}

export async function importBenchmarks (): Promise<string> {
  const browser = await bundleClient('browser')
  const browserGzip = gzipSync(browser.code).byteLength
  const withLibraries = (await bundleClient('browser', [])).bytes

  const tarball = packIpidd()
  const apps = { light: appWith(tarball, DID_LIBRARIES), full: appWith(tarball, 'all') }
  try {
    const scripts = TARGETS.map((target, i) => {
      const script = join(apps[target.app], `import-${i}.mjs`)
      writeFileSync(script, `const t = performance.now(); await import(${JSON.stringify(target.specifier)}); console.log(performance.now() - t)\n`)
      return script
    })
    const samples = TARGETS.map(() => ({ importMs: [] as number[], wallMs: [] as number[] }))
    for (let run = 0; run < RUNS; run++) {
      TARGETS.forEach((target, i) => {
        const { importMs, wallMs } = coldImport(apps[target.app], scripts[i]!)
        samples[i]!.importMs.push(importMs)
        samples[i]!.wallMs.push(wallMs)
      })
    }
    const medians = samples.map(s => ({ importMs: percentiles(s.importMs).p50, wallMs: percentiles(s.wallMs).p50 }))
    const baseline = medians[0]!.importMs
    const light = medians[1]!.importMs
    const kb = (bytes: number): string => (bytes / 1024).toFixed(1)
    return [
      IMPORTS_HEADING,
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} (\`node bench/run.ts imports\` runs this section alone).`,
      '',
      '`ipidd/resolver` (src/client/) bundled by esbuild for the browser, minified, ESM:',
      '',
      '| bundle | minified KB | gzip KB | budget |',
      '| --- | ---: | ---: | ---: |',
      `| ipidd/resolver, did-resolver and did-jwt left out | ${kb(browser.bytes)} | ${kb(browserGzip)} | < ${kb(BUNDLE_BUDGET_BYTES)} |`,
      `| ipidd/resolver with did-resolver and did-jwt bundled in (for comparison) | ${kb(withLibraries)} | | |`,
      '',
      `${browser.errors} errors, ${browser.warnings} warnings. test/client/bundle.test.ts checks the budget and that the graph holds no`,
      '`node:` module, Helia, libp2p, express or SQLite, for the browser and for Node.',
      '',
      `Cold import in Node: ipidd packed and installed in an app, each import in a fresh process, ${RUNS} runs in turn,`,
      'medians. "import ms" is `await import(…)` alone; "process ms" is the whole process (Node start-up, the',
      'loopback guard every benchmark process carries, the import). Ratio: import ms over did-jwt alone, same run.',
      '',
      '| import | import ms | process ms | ratio to did-jwt alone |',
      '| --- | ---: | ---: | ---: |',
      ...TARGETS.map((target, i) => `| ${target.name} | ${medians[i]!.importMs.toFixed(1)} | ${medians[i]!.wallMs.toFixed(1)} | ${i === 0 ? '' : (medians[i]!.importMs / baseline).toFixed(2)} |`),
      '',
      light < IMPORT_BUDGET_MS ? `Budget met: ipidd/resolver imports in ${light.toFixed(0)} ms (goal < ${IMPORT_BUDGET_MS} ms).` : `Budget missed: ipidd/resolver takes ${light.toFixed(0)} ms (goal < ${IMPORT_BUDGET_MS} ms).`,
      ''
    ].join('\n')
  } finally {
    for (const dir of [apps.light, apps.full, join(tarball, '..')]) rmSync(dir, { recursive: true, force: true })
  }
}
