/**
 * ipidd as an app gets it: built into a temporary package (tsc, as `npm run build` does, without touching the
 * checkout's dist/), packed with `npm pack`, and unpacked into apps' node_modules beside the packages they
 * install. No registry: the apps' other packages are links into this checkout's node_modules.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Metafile } from 'esbuild'

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..')
export const CLIENT_ENTRY = join(REPO, 'src/client/index.ts')
/** The budget for the minified browser bundle of `ipidd/resolver`, without did-resolver and did-jwt. */
export const BUNDLE_BUDGET_BYTES = 60 * 1024
/** What an app installs beside `ipidd/resolver`; the bundle leaves them out. */
export const DID_LIBRARIES = ['did-resolver', 'did-jwt']

function run (command: string, args: string[], cwd: string): string {
  // npm asks the registry for its own updates unless told not to: these runs reach nothing but the disk.
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' } })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${String(result.status)}): ${result.stdout}${result.stderr}`)
  return result.stdout
}

/** Builds and packs ipidd from this checkout; the tarball's path. */
export function packIpidd (): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipidd-pack-'))
  run(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], REPO)
  for (const file of ['package.json', 'README.md']) copyFileSync(join(REPO, file), join(dir, file))
  const name = run('npm', ['pack', '--ignore-scripts', '--silent'], dir).trim().split('\n').at(-1)!
  return join(dir, name)
}

/**
 * An app folder whose node_modules holds the unpacked ipidd and links to `packages` of this checkout (every
 * installed package with 'all': an app that also installed the embedded node's optional packages), less `except`.
 */
export function appWith (tarball: string, packages: string[] | 'all', except: readonly string[] = []): string {
  const app = mkdtempSync(join(tmpdir(), 'ipidd-app-'))
  const modules = join(app, 'node_modules')
  mkdirSync(modules)
  run('tar', ['-xzf', tarball, '-C', modules], app)
  renameSync(join(modules, 'package'), join(modules, 'ipidd'))
  const names = packages === 'all'
    ? readdirSync(join(REPO, 'node_modules')).filter(n => !n.startsWith('.')).flatMap(n => n.startsWith('@') ? readdirSync(join(REPO, 'node_modules', n)).map(m => `${n}/${m}`) : [n])
    : packages
  for (const name of names.filter(n => !except.includes(n))) {
    if (name.includes('/')) mkdirSync(join(modules, dirname(name)), { recursive: true })
    symlinkSync(join(REPO, 'node_modules', name), join(modules, name))
  }
  return app
}

/**
 * The minified bundle of the app entry (browser: as the budget counts it; node: to see its module graph),
 * did-resolver and did-jwt left out unless `external` says otherwise.
 */
export async function bundleClient (platform: 'browser' | 'node', external = DID_LIBRARIES): Promise<{ bytes: number, code: Uint8Array, errors: number, warnings: number, metafile: Metafile }> {
  const result = await build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    platform,
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    external,
    logLevel: 'silent'
  })
  const code = result.outputFiles[0]!.contents
  return { bytes: code.byteLength, code, errors: result.errors.length, warnings: result.warnings.length, metafile: result.metafile }
}
