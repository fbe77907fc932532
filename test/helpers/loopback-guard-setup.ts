/**
 * Vitest global setup of the loopback guard (test/helpers/loopback-guard.ts). Before any test: records the
 * run's network namespace and a fresh violation log, and puts the guard in NODE_OPTIONS, so that every Node
 * process of the run (the workers, and the daemons and CLIs that tests spawn with the environment they
 * inherit) installs it. After the last test: a run in which anything tried to reach a non-loopback address
 * fails, naming each target, even where the code that tried swallowed the guard's error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { currentNetns, GUARD_LOG_ENV, GUARD_NETNS_ENV, installLoopbackGuard } from './loopback-guard.ts'

let folder: string | undefined

export function setup (): void {
  folder = mkdtempSync(join(tmpdir(), 'ipidd-loopback-guard-'))
  process.env[GUARD_LOG_ENV] = join(folder, 'violations.jsonl')
  const netns = currentNetns()
  if (netns !== undefined) process.env[GUARD_NETNS_ENV] = netns
  const register = pathToFileURL(join(import.meta.dirname, 'loopback-guard-register.ts')).href
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${register}`.trim()
  installLoopbackGuard()
}

export function teardown (): void {
  const log = process.env[GUARD_LOG_ENV]
  let lines: string[] = []
  try { lines = readFileSync(log!, 'utf8').split('\n').filter(line => line !== '') } catch {}
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true })
  if (lines.length > 0) {
    const targets = lines.map(line => { try { return JSON.parse(line) as { target: string, argv: string[], stack: string } } catch { return { target: line, argv: [], stack: '' } } })
    throw new Error(`loopback guard: ${targets.length} attempt(s) to reach a non-loopback address outside a test's own network namespace:\n` +
      targets.map(t => `- ${t.target} (${t.argv.join(' ')})\n${t.stack}`).join('\n'))
  }
}
