# shellcheck shell=bash
# Source this file (`source scripts/use-node24.sh`): if the `node` on PATH is older than ipidd needs,
# it fetches Node 24 from the npm registry (package node-linux-<arch>@24, binary and headers) into a
# cache folder and puts it first on PATH. npm's launcher runs on whichever `node` is first on PATH,
# so npm runs on Node 24 as well. Native builds are pointed at the matching headers.

ipidd_node_is_recent() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null
}

if ! ipidd_node_is_recent; then
  case "$(uname -m)" in
    x86_64) ipidd_arch=x64 ;;
    aarch64 | arm64) ipidd_arch=arm64 ;;
    *) echo "use-node24: no Node 24 package for $(uname -m); install Node >= 22.18 yourself" >&2; return 1 2>/dev/null || exit 1 ;;
  esac
  # npm reads its global npmrc from beside the running node: keep the machine's (CA bundle, proxy) in force.
  ipidd_npm_global=$(npm config get globalconfig 2>/dev/null || true)
  ipidd_node_dir="${IPIDD_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipidd/node24}"
  ipidd_node_pkg="$ipidd_node_dir/node_modules/node-linux-$ipidd_arch"
  if [ ! -x "$ipidd_node_pkg/bin/node" ]; then
    echo "use-node24: fetching Node 24 (node-linux-$ipidd_arch@24) into $ipidd_node_dir" >&2
    mkdir -p "$ipidd_node_dir"
    npm install --prefix "$ipidd_node_dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-$ipidd_arch@24" >&2 ||
      { echo "use-node24: could not fetch Node 24 from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
  fi
  if [ -z "${npm_config_globalconfig:-}" ] && [ -n "$ipidd_npm_global" ] && [ -f "$ipidd_npm_global" ]; then
    export npm_config_globalconfig="$ipidd_npm_global"
  fi
  export PATH="$ipidd_node_pkg/bin:$PATH"
  export npm_config_nodedir="$ipidd_node_pkg"
  hash -r
  echo "use-node24: using $(command -v node) ($(node --version)), npm $(npm --version 2>/dev/null)" >&2
fi
unset -f ipidd_node_is_recent
