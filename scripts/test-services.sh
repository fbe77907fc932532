# shellcheck shell=bash
# Source this file (`source scripts/test-services.sh`, bash): it starts a throwaway Redis and a throwaway
# PostgreSQL cluster on free 127.0.0.1 ports and exports the URLs the tests read:
#
#   IPIDD_TEST_REDIS_URL=redis://127.0.0.1:PORT
#   IPIDD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/ipidd_test   (trust auth, loopback only)
#
# If redis-server or the PostgreSQL server is missing, it installs the Debian packages first
# (apt-get install redis-server postgresql; as root, or with sudo). `ipidd_stop_test_services` stops both
# and deletes their data. Nothing stops them on exit unless you ask: `trap ipidd_stop_test_services EXIT`,
# or set IPIDD_TEST_SERVICES_TRAP=1 before sourcing to have this file add that trap.
#
# Settings: IPIDD_SERVICES_DIR (where each run makes its own folder; default: a new temporary folder),
# IPIDD_PG_BINDIR (PostgreSQL server binaries; default: the newest /usr/lib/postgresql/*/bin).
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` system user.
# Safe under `set -euo pipefail`; on failure it says what failed and returns 1 (it never exits your shell).

_ipidd_ts_say() { printf 'test-services: %s\n' "$*" >&2; }
_ipidd_ts_fail() { printf 'test-services: FAILED: %s\n' "$*" >&2; return 1; }

# Prints the last lines of a log file, indented, to stderr.
_ipidd_ts_tail() {
  [ -f "$1" ] || return 0
  printf '  --- last lines of %s ---\n' "$1" >&2
  tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/  | /' >&2 || true
}

# A free TCP port on 127.0.0.1 (the OS picks it: listen on port 0, read the port, close).
_ipidd_ts_free_port() {
  local port=''
  if command -v node >/dev/null 2>&1; then
    port=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })' 2>/dev/null) || port=''
  fi
  if [ -z "$port" ] && command -v python3 >/dev/null 2>&1; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null) || port=''
  fi
  if [ -z "$port" ]; then # no node, no python: a random high port nobody answers on
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      port=$(( 20000 + RANDOM % 12000 ))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
      port=''
    done
  fi
  case "$port" in '' | *[!0-9]*) return 1 ;; esac
  printf '%s\n' "$port"
}

# The newest directory holding PostgreSQL's server binaries (initdb, pg_ctl, postgres).
_ipidd_ts_pg_bindir() {
  local d found=''
  if [ -n "${IPIDD_PG_BINDIR:-}" ]; then
    found=$IPIDD_PG_BINDIR
    [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ] && [ -x "$found/postgres" ] ||
      { _ipidd_ts_fail "IPIDD_PG_BINDIR=$found has no initdb, pg_ctl and postgres: unset it or point it at PostgreSQL's bin folder"; return 1; }
  else
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
      [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && found=$d
    done
    if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then # not Debian's layout: binaries on PATH
      d=$(dirname "$(command -v initdb)")
      [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && found=$d
    fi
  fi
  [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ] && [ -x "$found/postgres" ] || return 1
  "$found/postgres" --version >/dev/null 2>&1 || return 1
  printf '%s\n' "$found"
}

# A PostgreSQL client program: the one beside the server binaries, else the one on PATH.
_ipidd_ts_pg_client() {
  if [ -x "$_ipidd_ts_pg_bin/$1" ]; then printf '%s\n' "$_ipidd_ts_pg_bin/$1"; else command -v "$1"; fi
}

# Runs a command as the user that runs PostgreSQL (`postgres` when we are root; ourselves otherwise).
_ipidd_ts_as_pg() {
  if [ "$(id -u)" -ne 0 ]; then (cd / && "$@"); return; fi
  if command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
  fi
}

# Installs the Debian packages for whatever is missing.
_ipidd_ts_install() {
  local pkgs=() sudo=() log rc
  { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; } || pkgs+=(redis-server)
  if [ -n "${IPIDD_PG_BINDIR:-}" ]; then _ipidd_ts_pg_bindir >/dev/null || return 1; fi # a wrong setting: no install
  _ipidd_ts_pg_bindir >/dev/null || pkgs+=(postgresql)
  [ "${#pkgs[@]}" -eq 0 ] && return 0
  local fix="install them yourself (sudo apt-get install redis-server postgresql), or put redis-server/redis-cli on PATH and set IPIDD_PG_BINDIR to PostgreSQL's bin folder, then source this file again"
  command -v apt-get >/dev/null 2>&1 || { _ipidd_ts_fail "${pkgs[*]} missing and no apt-get here: $fix"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { _ipidd_ts_fail "${pkgs[*]} missing; not root and no sudo to install: $fix"; return 1; }
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  _ipidd_ts_say "installing ${pkgs[*]} (apt-get; once per machine)"
  log=$(mktemp "${TMPDIR:-/tmp}/ipidd-apt.XXXXXX") || { _ipidd_ts_fail "mktemp"; return 1; }
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120)
  "${apt[@]}" install --no-install-recommends "${pkgs[@]}" </dev/null >"$log" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ]; then # stale or missing package lists: update them, then try again
    { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${pkgs[@]}"; } </dev/null >>"$log" 2>&1
    rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    _ipidd_ts_tail "$log" 20
    _ipidd_ts_fail "apt-get install ${pkgs[*]} failed (log: $log)${sudo[*]:+; sudo may need a password}: $fix"
    return 1
  fi
  rm -f "$log"
  hash -r
}

_ipidd_ts_start_redis() {
  local dir="$_ipidd_ts_dir/redis" port
  mkdir -p "$dir" || { _ipidd_ts_fail "cannot create $dir"; return 1; }
  for _ in 1 2 3; do
    port=$(_ipidd_ts_free_port) || { _ipidd_ts_fail "cannot find a free port (needs node or python3)"; return 1; }
    : >"$dir/redis.log"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >>"$dir/redis.log" 2>&1 || continue
    for _ in $(seq 1 100); do
      if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
        _ipidd_ts_redis_port=$port
        _ipidd_ts_redis_pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
        return 0
      fi
      grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null && break # lost a port race: next port
      sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  _ipidd_ts_tail "$dir/redis.log"
  _ipidd_ts_fail "redis-server did not answer PING on 127.0.0.1 (3 tries; see the log above)"
}

_ipidd_ts_start_postgres() {
  local dir="$_ipidd_ts_dir/postgres" port user=postgres psql createdb isready
  _ipidd_ts_pg_bin=$(_ipidd_ts_pg_bindir) || { _ipidd_ts_fail "no working PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin or IPIDD_PG_BINDIR"; return 1; }
  psql=$(_ipidd_ts_pg_client psql) && createdb=$(_ipidd_ts_pg_client createdb) && isready=$(_ipidd_ts_pg_client pg_isready) ||
    { _ipidd_ts_fail "PostgreSQL client programs (psql, createdb, pg_isready) missing: apt-get install postgresql-client"; return 1; }
  mkdir -p "$dir" || { _ipidd_ts_fail "cannot create $dir"; return 1; }
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { _ipidd_ts_fail "PostgreSQL will not run as root and there is no 'postgres' user (the Debian package creates it): create it (useradd --system postgres) or run as a normal user"; return 1; }
    chown postgres: "$dir" || { _ipidd_ts_fail "cannot chown $dir to postgres"; return 1; }
    _ipidd_ts_as_pg test -w "$dir" ||
      { _ipidd_ts_fail "the postgres user cannot write $dir (a parent folder is private?): set IPIDD_SERVICES_DIR to a folder under /tmp"; return 1; }
  fi
  # Loopback TCP only (no Unix socket: /var/run/postgresql is not ours), trust auth, no durability.
  _ipidd_ts_as_pg "$_ipidd_ts_pg_bin/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { _ipidd_ts_tail "$dir/initdb.log"; _ipidd_ts_fail "initdb failed (see the log above)"; return 1; }
  # Appended by us (root when root): postgres only needs to read it.
  cat >>"$dir/data/postgresql.conf" <<'EOF' || { _ipidd_ts_fail "cannot write $dir/data/postgresql.conf"; return 1; }

# ipidd throwaway test cluster (scripts/test-services.sh); the port is given on the command line
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
  for _ in 1 2 3; do
    port=$(_ipidd_ts_free_port) || { _ipidd_ts_fail "cannot find a free port (needs node or python3)"; return 1; }
    if _ipidd_ts_as_pg "$_ipidd_ts_pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >"$dir/pg_ctl.log" 2>&1 &&
      "$isready" -q -h 127.0.0.1 -p "$port" -t 30 >/dev/null 2>&1; then
      _ipidd_ts_pg_port=$port
      _ipidd_ts_pg_data="$dir/data"
      if ! "$createdb" -h 127.0.0.1 -p "$port" -U "$user" ipidd_test >"$dir/createdb.log" 2>&1 ||
        ! "$psql" -X -q -h 127.0.0.1 -p "$port" -U "$user" -d ipidd_test -c 'select 1' >/dev/null 2>&1; then
        _ipidd_ts_tail "$dir/createdb.log"
        _ipidd_ts_fail "PostgreSQL started but creating/connecting to database ipidd_test failed"
        return 1
      fi
      _ipidd_ts_pg_url="postgres://$user@127.0.0.1:$port/ipidd_test"
      return 0
    fi
    _ipidd_ts_as_pg "$_ipidd_ts_pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    grep -q 'could not bind\|already in use' "$dir/server.log" 2>/dev/null || break # not a port race: stop trying
  done
  _ipidd_ts_tail "$dir/pg_ctl.log" 5
  _ipidd_ts_tail "$dir/server.log"
  _ipidd_ts_fail "PostgreSQL ($_ipidd_ts_pg_bin) did not start on 127.0.0.1 (see the logs above)"
}

# Stops both servers (if this shell started them) and deletes their folder. Always returns 0.
ipidd_stop_test_services() {
  local pgpid
  if [ -n "${_ipidd_ts_redis_port:-}" ]; then
    redis-cli -h 127.0.0.1 -p "$_ipidd_ts_redis_port" shutdown nosave >/dev/null 2>&1 || true
    if [ -n "${_ipidd_ts_redis_pid:-}" ]; then
      for _ in $(seq 1 50); do kill -0 "$_ipidd_ts_redis_pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$_ipidd_ts_redis_pid" 2>/dev/null && kill -9 "$_ipidd_ts_redis_pid" 2>/dev/null || true
    fi
  fi
  if [ -n "${_ipidd_ts_pg_data:-}" ] && [ -f "$_ipidd_ts_pg_data/postmaster.pid" ]; then
    pgpid=$(head -n 1 "$_ipidd_ts_pg_data/postmaster.pid" 2>/dev/null || true)
    _ipidd_ts_as_pg "$_ipidd_ts_pg_bin/pg_ctl" -D "$_ipidd_ts_pg_data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      _ipidd_ts_as_pg "$_ipidd_ts_pg_bin/pg_ctl" -D "$_ipidd_ts_pg_data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
      { [ -n "$pgpid" ] && kill -9 "$pgpid" 2>/dev/null; } || true
  fi
  if [ -n "${_ipidd_ts_dir:-}" ] && [ -d "$_ipidd_ts_dir" ]; then
    rm -rf "$_ipidd_ts_dir" 2>/dev/null || true
  fi
  if [ -n "${_ipidd_ts_dir:-}" ]; then _ipidd_ts_say "stopped redis and postgres"; fi
  unset _ipidd_ts_dir _ipidd_ts_redis_port _ipidd_ts_redis_pid _ipidd_ts_pg_port _ipidd_ts_pg_data _ipidd_ts_pg_url
  unset IPIDD_TEST_REDIS_URL IPIDD_TEST_POSTGRES_URL
  return 0
}

ipidd_start_test_services() {
  local t0=$SECONDS
  # Sourced again in the same shell: replace the running pair (new ports, empty data).
  ipidd_stop_test_services 2>/dev/null
  _ipidd_ts_install || return 1
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
    { _ipidd_ts_fail "redis-server/redis-cli still not on PATH after installing"; return 1; }
  if [ -n "${IPIDD_SERVICES_DIR:-}" ]; then
    mkdir -p "$IPIDD_SERVICES_DIR" && _ipidd_ts_dir=$(mktemp -d "$IPIDD_SERVICES_DIR/run.XXXXXX") ||
      { _ipidd_ts_fail "cannot create a folder in IPIDD_SERVICES_DIR=$IPIDD_SERVICES_DIR"; return 1; }
  else
    _ipidd_ts_dir=$(mktemp -d "${TMPDIR:-/tmp}/ipidd-services.XXXXXX") || { _ipidd_ts_fail "mktemp -d failed"; return 1; }
  fi
  chmod 755 "$_ipidd_ts_dir" # the postgres user must reach its folder inside (when we are root)
  if ! _ipidd_ts_start_redis || ! _ipidd_ts_start_postgres; then
    local kept="${TMPDIR:-/tmp}/ipidd-services-failed.$$"
    rm -rf "$kept"; cp -r "$_ipidd_ts_dir" "$kept" 2>/dev/null && _ipidd_ts_say "logs kept in $kept"
    ipidd_stop_test_services 2>/dev/null
    return 1
  fi
  export IPIDD_TEST_REDIS_URL="redis://127.0.0.1:$_ipidd_ts_redis_port"
  export IPIDD_TEST_POSTGRES_URL="$_ipidd_ts_pg_url"
  _ipidd_ts_say "redis    $IPIDD_TEST_REDIS_URL ($(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'))"
  _ipidd_ts_say "postgres $IPIDD_TEST_POSTGRES_URL ($("$_ipidd_ts_pg_bin/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([^ ]*\).*/\1/p'); up in $(( SECONDS - t0 ))s)"
}

if [ -z "${BASH_VERSION:-}" ]; then
  echo "test-services: this file needs bash (source it from bash)" >&2
  return 1 2>/dev/null || exit 1
fi
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "test-services: source this file (source scripts/test-services.sh); running it would stop nothing and export nothing" >&2
  exit 2
fi
if ! ipidd_start_test_services; then
  echo "test-services: Redis/PostgreSQL tests cannot run (outside CI they are skipped when IPIDD_TEST_*_URL are unset)" >&2
  return 1
fi
if [ "${IPIDD_TEST_SERVICES_TRAP:-}" = 1 ]; then
  # Keep any EXIT trap the caller already has, and stop the services after it.
  # shellcheck disable=SC2120
  _ipidd_ts_prev_trap() { eval "set -- $(trap -p EXIT)"; printf '%s' "${3:-}"; } # trap -- 'command' EXIT
  _ipidd_ts_prev=$(_ipidd_ts_prev_trap)
  # shellcheck disable=SC2064
  case "$_ipidd_ts_prev" in
    *ipidd_stop_test_services*) ;; # sourced again: already there
    *) trap "${_ipidd_ts_prev:+$_ipidd_ts_prev
}ipidd_stop_test_services || true" EXIT ;;
  esac
  unset -f _ipidd_ts_prev_trap
  unset _ipidd_ts_prev
fi
