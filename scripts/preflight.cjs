'use strict'
// Runs before `npm start`, `npm test` and `npm run bench`. Plain CommonJS on purpose: it must run, and
// explain itself, on the old Node versions it refuses.
var fs = require('fs')
var path = require('path')
var childProcess = require('child_process')

var MIN_MAJOR = 22
var MIN_MINOR = 18 // first 22.x that strips TypeScript types without a flag

function tooOld (version) {
  var parts = version.replace(/^v/, '').split('.').map(Number)
  return parts[0] < MIN_MAJOR || (parts[0] === MIN_MAJOR && parts[1] < MIN_MINOR)
}

function refusal (version) {
  return 'ipidd needs Node.js >= ' + MIN_MAJOR + '.' + MIN_MINOR + ' (24 recommended); this is Node ' + version + '.\n' +
    'Fix: run `source scripts/use-node24.sh` in this shell (it fetches Node 24 from the npm registry\n' +
    'and puts it first on PATH), then run the same command again.\n'
}

module.exports = { tooOld: tooOld, refusal: refusal }
if (require.main !== module) return

if (tooOld(process.version)) {
  process.stderr.write(refusal(process.version))
  process.exit(1)
}

// A fresh clone has no node_modules: install exactly what the lockfile says, once.
var root = path.resolve(__dirname, '..')
var installed = path.join(root, 'node_modules', '.package-lock.json')
var lock = path.join(root, 'package-lock.json')
var stale = !fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs
if (stale) {
  process.stderr.write('ipidd: installing dependencies (npm ci)…\n')
  var result = childProcess.spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    process.stderr.write('ipidd: `npm ci` failed; see the output above.\n')
    process.exit(result.status || 1)
  }
}
