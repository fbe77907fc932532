'use strict'
// Runs before `npm start`, `npm test` and `npm run bench`. Plain CommonJS on purpose: it must run, and
// explain itself, on the old Node versions it refuses.
var fs = require('fs')
var path = require('path')
var childProcess = require('child_process')

var MIN_MAJOR = 22
var MIN_MINOR = 18 // first 22.x that strips TypeScript types without a flag

var parts = process.versions.node.split('.').map(Number)
if (parts[0] < MIN_MAJOR || (parts[0] === MIN_MAJOR && parts[1] < MIN_MINOR)) {
  process.stderr.write(
    'ipidd needs Node.js >= ' + MIN_MAJOR + '.' + MIN_MINOR + ' (24 recommended); this is Node ' + process.version + '.\n' +
    'Fix: run `source scripts/use-node24.sh` in this shell (it fetches Node 24 from the npm registry\n' +
    'and puts it first on PATH), then run the same command again.\n')
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
