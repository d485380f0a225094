# Throwaway PostgreSQL 15 clusters, sourced by scripts. initdb and postgres refuse
# to run as root, so the cluster runs as the postgres user when we are root; that
# user must then be able to enter the cluster's folder (see pg_cluster_dir).
# Usage: pg_cluster_dir DIR  -> prints where the cluster meant for DIR can live
#        pg_start DIR  -> sets PG_PORT and PG_URL (superuser, database postgres)
#        pg_stop DIR

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Where pg_cluster_dir puts clusters the postgres user could not reach in place.
PG_FALLBACK_ROOT=${PG_FALLBACK_ROOT:-/var/tmp}

# As root, the server's commands run as postgres from /: the caller's folder
# may be one postgres cannot enter (a checkout under a home of mode 700, or a
# mktemp -d), and initdb/pg_ctl would warn "could not change directory".
# Callers pass absolute paths.
_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

_pg_need_server_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id postgres >/dev/null 2>&1 && return 0
  echo "pg: PostgreSQL refuses to run as root and there is no postgres user; install postgresql-15 (scripts/bootstrap.sh) or run as another user" >&2
  return 1
}

# _pg_server_can_enter DIR -> true when the server user can enter DIR (every parent
# traversable). Always true when we are not root: the server runs as us.
_pg_server_can_enter() {
  [ "$(id -u)" -eq 0 ] || return 0
  runuser -u postgres -- test -x "$1" 2>/dev/null
}

# pg_cluster_dir DIR -> DIR, unless we are root and the postgres user cannot enter
# DIR's parent (a checkout under a home of mode 700, such as /root). Then the
# cluster gets a folder of its own, $PG_FALLBACK_ROOT/batchscribe-pg-<hash of DIR>,
# owned by postgres with mode 700, so the same DIR always maps to the same cluster.
pg_cluster_dir() {
  local want=$1 parent alt owner
  parent=$(dirname "$want")
  mkdir -p "$parent"
  parent=$(cd "$parent" && pwd -P)
  alt=$PG_FALLBACK_ROOT/batchscribe-pg-$(printf '%s' "$parent/$(basename "$want")" | sha256sum | cut -c1-16)
  if [ "$(id -u)" -ne 0 ] || { _pg_server_can_enter "$parent" && [ ! -f "$alt/data/PG_VERSION" ]; }; then
    printf '%s\n' "$want"
    return 0
  fi
  _pg_need_server_user || return 1
  if ! _pg_server_can_enter "$PG_FALLBACK_ROOT"; then
    echo "pg: the postgres user can enter neither $parent nor $PG_FALLBACK_ROOT; let it traverse one (chmod o+x on each folder above it) or set PG_FALLBACK_ROOT" >&2
    return 1
  fi
  # The name is predictable and $PG_FALLBACK_ROOT is shared: accept only a real
  # folder owned by postgres (or by us, before the chown), never a symbolic link.
  [ -e "$alt" ] || [ -L "$alt" ] || mkdir -m 700 "$alt" 2>/dev/null || true
  owner=$(stat -c %U "$alt" 2>/dev/null || true)
  if [ -L "$alt" ] || [ ! -d "$alt" ] || { [ "$owner" != postgres ] && [ "$owner" != root ]; }; then
    echo "pg: $alt is not a folder owned by postgres or root; remove it and run again" >&2
    return 1
  fi
  chown postgres:postgres "$alt"
  chmod 700 "$alt"
  printf '%s\n' "$alt"
}

pg_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg_start() {
  local dir=$1
  _pg_need_server_user || return 1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
  if ! _pg_server_can_enter "$dir"; then
    echo "pg: the postgres user cannot enter $dir: a folder above it is closed to other users (a home of mode 700, such as /root). Put the cluster under a folder it can traverse (pg_cluster_dir picks one under $PG_FALLBACK_ROOT), or chmod o+x each folder above $dir" >&2
    return 1
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    _pg_as "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  PG_PORT=${PG_PORT:-$(pg_free_port)}
  _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c shared_buffers=256MB" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; return 1; }
  echo "$PG_PORT" >"$dir/port"
  PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  export PG_PORT PG_URL
}

pg_stop() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  dir=$(cd "$dir" && pwd)
  _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
