/**
 * `npm run bench`: runs every benchmark and rewrites bench/RESULTS.md with the figures and the machine they
 * were measured on.
 */
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheBenchmarks } from './cache.ts'
import { coreBenchmarks } from './core.ts'
import { didauthBenchmarks } from './didauth.ts'
import { httpBenchmarks } from './http.ts'
import { networkBenchmarks } from './network.ts'
import { setup as guardLoopback, teardown as loopbackVerdict } from '../test/helpers/loopback-guard-setup.ts'

// Benchmarks send traffic to loopback only, like the tests: the same guard, in this process and the daemons it starts.
guardLoopback()
const sections = [await coreBenchmarks(), await networkBenchmarks(), await cacheBenchmarks(), await httpBenchmarks(), await didauthBenchmarks()]
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
writeFileSync(out, [header, ...sections].join('\n'))
process.stdout.write([header, ...sections].join('\n'))
