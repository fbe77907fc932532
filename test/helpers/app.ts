/**
 * An app that depends on ipidd as published, for tests that must see what an app sees: the package built by
 * tsc (tsconfig.build.json) into `<repo>/.ipidd-test-app-<id>/node_modules/ipidd/` with its package.json, and a
 * script of the app's own that imports only `ipidd/resolver` and did-jwt. The folder sits inside the repository
 * so that ipidd's dependencies (and did-jwt) resolve from the repository's node_modules, as they would from the
 * app's; it is ignored by git and removed by `cleanup`.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..')
/** tsc of the whole package takes a few seconds; a busy machine may take several times that. */
export const APP_BUILD_TIMEOUT_MS = 120_000

/** The app's verifier: `node verify-jwt.mjs <resolver URL> <jwt> <audience>` prints what it found as JSON. */
export const APP_VERIFIER = 'verify-jwt.mjs'

const VERIFIER = `// An app's check of a login JWT: ipidd/resolver and did-jwt, nothing else.
import { remoteResolver, verifyJwt } from 'ipidd/resolver'
import { verifyJWT } from 'did-jwt'

const [url, jwt, audience] = process.argv.slice(2)
const resolver = remoteResolver(url)
// did-jwt on its own, with ipidd's remote resolver as its Resolvable.
const didJwt = await verifyJWT(jwt, { audience, resolver: { resolve: async did => resolver.resolve(did) } })
  .then(() => 'verified', error => /^([a-z_]+):/.exec(error.message)?.[1] ?? 'failed')
try {
  const { issuer, signer, versionId, payload } = await verifyJwt(jwt, { audience, resolver })
  console.log(JSON.stringify({ verified: true, issuer, signer, versionId, payload, didJwt }))
} catch (error) {
  console.log(JSON.stringify({ verified: false, reason: error.reason, message: error.message, didJwt }))
}
`

export interface App { dir: string, cleanup: () => void }

export async function prepareApp (): Promise<App> {
  const dir = mkdtempSync(join(REPO, '.ipidd-test-app-'))
  const pkg = join(dir, 'node_modules', 'ipidd')
  mkdirSync(pkg, { recursive: true })
  await promisify(execFile)(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: REPO, timeout: APP_BUILD_TIMEOUT_MS })
  copyFileSync(join(REPO, 'package.json'), join(pkg, 'package.json'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module', dependencies: { ipidd: '*', 'did-jwt': '*' } }))
  writeFileSync(join(dir, APP_VERIFIER), VERIFIER)
  return { dir, cleanup: () => { rmSync(dir, { recursive: true, force: true }) } }
}
