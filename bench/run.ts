/**
 * `npm run bench`: runs every benchmark and rewrites bench/RESULTS.md with the figures and the machine they
 * were measured on. `node bench/run.ts <section>…` (core, network, cache, http, didauth, imports) runs only those
 * and replaces only their sections. Sections measured outside (the install size, by bench/install-size.sh,
 * which needs the registry) are kept as they are.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheBenchmarks } from './cache.ts'
import { coreBenchmarks } from './core.ts'
import { didauthBenchmarks } from './didauth.ts'
import { httpBenchmarks } from './http.ts'
import { importBenchmarks } from './imports.ts'
import { networkBenchmarks } from './network.ts'
import { setup as guardLoopback, teardown as loopbackVerdict } from '../test/helpers/loopback-guard-setup.ts'

const BENCHMARKS: Record<string, () => Promise<string>> = {
  core: coreBenchmarks,
  network: networkBenchmarks,
  cache: cacheBenchmarks,
  http: httpBenchmarks,
  didauth: didauthBenchmarks,
  imports: importBenchmarks
}
/** Sections written by other means, kept through a full run. */
const KEPT_HEADINGS = ['## Install size of an app (issue 11)']
const only = process.argv.slice(2)
const unknown = only.filter(name => BENCHMARKS[name] === undefined)
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}\n`)
  process.exit(2)
}
// Benchmarks send traffic to loopback only, like the tests: the same guard, in this process and the daemons it starts.
guardLoopback()
const sections: string[] = []
for (const [name, run] of Object.entries(BENCHMARKS)) if (only.length === 0 || only.includes(name)) sections.push(await run())
loopbackVerdict()
const cpu = cpus()[0]?.model ?? 'unknown CPU'
const header = [
  '# Benchmark results',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench\` on Node ${process.version},`,
  `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB. Absolute figures vary between runs on`,
  'these shared machines; compare the ratios, which are taken against baselines measured in the same run.',
  ''
].join('\n')
const out = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md')
const previous = splitSections(readFileSync(out, 'utf8'))
const kept = previous.filter(section => KEPT_HEADINGS.includes(headingOf(section)))
if (only.length === 0) {
  writeFileSync(out, [header, ...sections, ...kept].join('\n'))
} else {
  // Each section run replaces its namesake, or joins the end; the rest, and the header, stay as measured.
  const fresh = new Map(sections.map(section => [headingOf(section), section]))
  const merged = previous.map(section => fresh.get(headingOf(section)) ?? section)
  const added = sections.filter(section => !previous.some(p => headingOf(p) === headingOf(section)))
  writeFileSync(out, [...merged, ...added].join('\n'))
}
process.stdout.write(sections.join('\n'))

/** The file cut before each `## ` heading (joined with a newline, it is the file again): the header, then the sections. */
function splitSections (text: string): string[] {
  return text.split(/\n(?=## )/)
}

function headingOf (section: string): string {
  return section.split('\n', 1)[0]!.trim()
}
