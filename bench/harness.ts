/**
 * A small benchmark harness: runs an async operation repeatedly for a time budget after a warm-up, and
 * reports throughput and per-operation latency percentiles. Figures are only compared with a baseline
 * measured in the same run (these machines are noisy), never with fixed numbers.
 */
import { performance } from 'node:perf_hooks'

export interface Measurement {
  name: string
  ops: number
  opsPerSecond: number
  p50Us: number
  p99Us: number
}

/**
 * Runs `op` for `budgetMs` after a warm-up, `concurrency` loops at once; ops/s over the whole run and the
 * latency of each op.
 */
export async function measure (name: string, op: () => unknown, budgetMs = 1500, warmupMs = 300, concurrency = 1): Promise<Measurement> {
  const warmEnd = performance.now() + warmupMs
  while (performance.now() < warmEnd) await op()
  const samples: number[] = []
  const start = performance.now()
  const end = start + budgetMs
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now()
      await op()
      samples.push(performance.now() - t)
    }
  }))
  const elapsed = performance.now() - start
  samples.sort((a, b) => a - b)
  const at = (q: number): number => (samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0) * 1000
  return { name, ops: samples.length, opsPerSecond: samples.length / (elapsed / 1000), p50Us: at(0.5), p99Us: at(0.99) }
}

export function row (m: Measurement, baseline?: Measurement): string {
  const ratio = baseline === undefined ? '' : (m.opsPerSecond / baseline.opsPerSecond).toFixed(2)
  return `| ${m.name} | ${Math.round(m.opsPerSecond).toLocaleString('en')} | ${m.p50Us.toFixed(1)} | ${m.p99Us.toFixed(1)} | ${ratio} |`
}

export const TABLE_HEAD = '| operation | ops/s | p50 µs | p99 µs | ratio to baseline |\n| --- | ---: | ---: | ---: | ---: |'

/** p50 and p99 of latency samples (ms). */
export function percentiles (samples: number[]): { p50: number, p99: number } {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  return { p50: at(0.5), p99: at(0.99) }
}

/** A table row of latency samples in ms; the ratio is p50 over the baseline's p50, measured in the same run. */
export function latencyRow (name: string, samples: number[], baseline?: number[], digits = 1): string {
  const { p50, p99 } = percentiles(samples)
  const ratio = baseline === undefined ? '' : (p50 / percentiles(baseline).p50).toFixed(digits + 1)
  return `| ${name} | ${samples.length} | ${p50.toFixed(digits)} | ${p99.toFixed(digits)} | ${ratio} |`
}
