#!/usr/bin/env bash
# What an app's `npm install ipidd` costs: packs ipidd at a git commit (default HEAD) from a clean export of that
# commit, installs the tarball into a fresh app (`npm init -y`, then `npm install <tarball>`, as an app would, with
# the registry) in a temporary folder outside the checkout, and prints the packages installed and their size.
# Reaches the npm registry: run by hand, not under the tests' or benchmarks' loopback guard.
#   bash bench/install-size.sh [commit]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=$(git -C "$repo" rev-parse "${1:-HEAD}")
work=$(mktemp -d "${TMPDIR:-/tmp}/ipidd-install-size-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/app"
git -C "$repo" archive "$commit" | tar -x -C "$work/src"
ln -s "$repo/node_modules" "$work/src/node_modules"   # the build's tools; the tarball carries none of them
(cd "$work/src" && npm pack --silent --pack-destination "$work" >/dev/null)
cd "$work/app"
npm init -y >/dev/null
NODE_OPTIONS= npm install "$work"/ipidd-*.tgz --no-audit --no-fund --loglevel=error >/dev/null
packages=$(node -e "console.log(Object.keys(require('./node_modules/.package-lock.json').packages).filter(Boolean).length)")
bytes=$(du -sb node_modules | cut -f1)
disk=$(du -sh node_modules | cut -f1)
react_native=$([ -d node_modules/react-native ] && echo yes || echo no)
# One table row: commit, packages, MB of files (du -sb, 10^6 bytes), disk use as du -sh shows it (MiB), react-native.
printf '| %s | %s | %s | %s | %s |\n' "${commit:0:7}" "$packages" "$(( bytes / 1000000 ))" "$disk" "$react_native"
