# Throwaway PostgreSQL 15 clusters, sourced by scripts. initdb and postgres refuse
# to run as root, so the cluster runs as the postgres user when we are root.
# Usage: pg_start DIR  -> sets PG_PORT and PG_URL (superuser, database postgres)
#        pg_stop DIR

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg_start() {
  local dir=$1
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
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
  _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
