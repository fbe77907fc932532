/**
 * HTTP throughput (issue 5): warm-cache DID resolution through the daemon's whole HTTP application against a
 * bare express route that returns the same resolution result from memory, both loaded by autocannon at 50
 * connections from this process while each server runs in its own. Rounds alternate bare / ipidd so that
 * drift on a noisy machine hits both. Goal: ipidd ≥ 0.8 of the bare route's throughput.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>

interface AutocannonResult {
  requests: { average: number, total: number }
  latency: { p50: number, p99: number }
  non2xx: number
  errors: number
}

const CONNECTIONS = 50
const DURATION_S = 8
const ROUNDS = 3
const server = join(dirname(fileURLToPath(import.meta.url)), 'http-server.ts')

async function startServer (mode: 'bare' | 'ipidd'): Promise<{ url: string, path: string, pid: number, stop: () => void }> {
  const child = spawn(process.execPath, [server, mode], { stdio: ['ignore', 'pipe', 'inherit'] })
  const first = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next()
  const { url, path } = JSON.parse(first.value as string) as { url: string, path: string }
  return { url, path, pid: child.pid!, stop: () => { child.kill('SIGKILL') } }
}

/** CPU time a process has used so far, in microseconds (user + system, from /proc; clock ticks are 10 ms). */
function cpuMicros (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

interface Round extends AutocannonResult {
  /** The server's CPU time per request answered, in microseconds: steadier than throughput on a shared machine. */
  cpuMicrosPerRequest: number
}

async function measure (server: { url: string, path: string, pid: number }): Promise<Round> {
  const before = cpuMicros(server.pid)
  const result = await load(server.url, server.path, DURATION_S)
  return { ...result, cpuMicrosPerRequest: (cpuMicros(server.pid) - before) / result.requests.total }
}

async function load (url: string, path: string, seconds: number): Promise<AutocannonResult> {
  const result = await autocannon({ url: url + path, connections: CONNECTIONS, duration: seconds, headers: { accept: 'application/did-resolution' } })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers and ${result.errors} errors from ${url}`)
  return result
}

export async function httpBenchmarks (): Promise<string> {
  const bare = await startServer('bare')
  const ipidd = await startServer('ipidd')
  const results: Record<'bare' | 'ipidd', Round[]> = { bare: [], ipidd: [] }
  try {
    await load(bare.url, bare.path, 2) // warm-up
    await load(ipidd.url, ipidd.path, 2)
    for (let round = 0; round < ROUNDS; round++) {
      results.bare.push(await measure(bare))
      results.ipidd.push(await measure(ipidd))
    }
  } finally {
    bare.stop()
    ipidd.stop()
  }
  const mean = (rs: Round[], pick: (r: Round) => number): number => rs.reduce((sum, r) => sum + pick(r), 0) / rs.length
  const row = (name: string, rs: Round[], baseline?: Round[]): string => {
    const rps = mean(rs, r => r.requests.average)
    const ratio = baseline === undefined ? '' : (rps / mean(baseline, r => r.requests.average)).toFixed(2)
    return `| ${name} | ${Math.round(rps).toLocaleString('en')} | ${mean(rs, r => r.latency.p50).toFixed(1)} | ${mean(rs, r => r.latency.p99).toFixed(1)} | ${mean(rs, r => r.cpuMicrosPerRequest).toFixed(0)} | ${ratio} |`
  }
  return [
    '## HTTP resolution throughput (issue 5)',
    '',
    `autocannon, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION_S} s each (means shown); each server in its own process,`,
    'the load generator in a third. Ratio: requests/s over the bare route\'s, measured in the same run. Goal ≥ 0.80.',
    'Server CPU per request (from /proc, user + system) is the steadier figure when other work shares the machine.',
    '',
    '| server | req/s | p50 ms | p99 ms | server CPU µs/request | ratio to bare |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('baseline: bare express route, the same resolution result from memory', results.bare),
    row('ipidd: GET /1.0/identifiers/{did}, warm cache, the whole HTTP application', results.ipidd, results.bare),
    '',
    `Goal ${mean(results.ipidd, r => r.requests.average) / mean(results.bare, r => r.requests.average) >= 0.8 ? 'met' : 'not met yet'}.`,
    ''
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(await httpBenchmarks())
