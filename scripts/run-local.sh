#!/usr/bin/env bash
# The main job in one command: transcribe every PDF of a folder on this machine.
#
#   scripts/run-local.sh [PDF_DIR]   start the stack if needed, submit PDF_DIR (default:
#                                    examples/), show progress until the batch ends
#   scripts/run-local.sh stop        stop everything it started
#   scripts/run-local.sh status      show what is running
#
# Installs and builds what is missing (scripts/bootstrap.sh, cmake into build/), then
# runs, under the git-ignored run folder .run/: a private PostgreSQL cluster, the
# coordinator, two workers and, unless OPENAI_API_KEY is set (then the real OpenAI API
# is used), the OpenAI emulator. The PDFs are hard-linked (or copied) under the input
# root, submitted as one batch and followed with `batchscribe watch`. Afterwards it
# prints where the transcripts are, the cost (batch vs synchronous) and how to call the
# coordinator, and leaves the stack running. Exit status: 0 when every document
# succeeded or was skipped, else the CLI's code (10 failed, 11 partially succeeded,
# 12 cancelled, ...). Ctrl-C stops the whole stack. Running it again resumes: the data
# stays in .run/, an unfinished batch of the same folder is followed again, and
# documents already transcribed are SKIPPED.
#
# Environment (all optional):
#   BATCHSCRIBE_RUN_DIR             run folder (default <repo>/.run)
#   BATCHSCRIBE_BUILD_DIR           build folder (default <repo>/build)
#   BATCHSCRIBE_BIN_DIR             use the binaries there; skip bootstrap and build
#   BATCHSCRIBE_RUNLOCAL_GRPC_PORT  coordinator port (default 50051)
#   BATCHSCRIBE_RUNLOCAL_EMULATOR_PORT  emulator port (default 18089)
#   BATCHSCRIBE_RUNLOCAL_METRICS_PORT   coordinator metrics port (default 9464; the
#                                       workers use the next two; 0 turns metrics off)
#   BATCHSCRIBE_RUNLOCAL_PG_PORT    PostgreSQL port (default: a free one)
#   BATCHSCRIBE_RUNLOCAL_EMULATOR_FLAGS  extra emulator flags, e.g. "--in_progress_ms 60000"
#                                   for batches that take a minute, or "--faults @file"
#   BATCHSCRIBE_MODEL               model (default gpt-4.1-mini)
#   BATCHSCRIBE_MODE                batch (default) or sync
#   OPENAI_API_KEY, OPENAI_BASE_URL use the real API (or another compatible server)
# Ports are remembered in the run folder, so a restarted stack keeps its addresses.
# PostgreSQL's data lives in .run/pg, except when run as root from a folder the
# postgres user cannot enter (a checkout under /root or another home of mode 700):
# then it lives in /var/tmp/batchscribe-pg-<hash of the run folder's path>, owned by
# postgres, mode 700 (`status` says where).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${BATCHSCRIBE_RUN_DIR:-$here/.run}
build_dir=${BATCHSCRIBE_BUILD_DIR:-$here/build}
pid_dir=$run_dir/pids
log_dir=$run_dir/logs
data_root=$run_dir/data            # storage root; inputs under data/inputs
input_root=$data_root/inputs

say() { printf 'run-local: %s\n' "$*"; }
die() { printf 'run-local: %s\n' "$*" >&2; exit 1; }

source "$here/scripts/lib/pg.sh"
# The cluster's folder: .run/pg, or one the postgres user can reach (see above).
pg_dir=$(pg_cluster_dir "$run_dir/pg") || die "cannot place the PostgreSQL cluster (see above)"

# ---------------------------------------------------------------------------
# Processes: one pid file per process; a pid counts only while /proc says it is
# still the program we started (pids are recycled).

# is_ours NAME -> true when the pid in NAME.pid runs the binary NAME.bin recorded with it.
is_ours() {
  local name=$1 pid exe
  [ -f "$pid_dir/$name.pid" ] || return 1
  pid=$(cat "$pid_dir/$name.pid")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [ -n "$exe" ] && [ "${exe% (deleted)}" = "$(cat "$pid_dir/$name.bin" 2>/dev/null)" ]
}

# start NAME BINARY ARGS... -> runs it detached (own session, so the terminal's Ctrl-C
# reaches only this script), output to logs/NAME.log, pid to pids/NAME.pid.
start() {
  local name=$1 binary=$2
  shift 2
  if is_ours "$name"; then
    say "$name already running (pid $(cat "$pid_dir/$name.pid"))"
    return 0
  fi
  mkdir -p "$pid_dir" "$log_dir"
  setsid "$binary" "$@" >>"$log_dir/$name.log" 2>&1 </dev/null &
  echo $! >"$pid_dir/$name.pid"
  readlink -f "$binary" >"$pid_dir/$name.bin"
  say "started $name (pid $!, log ${log_dir#"$here"/}/$name.log)"
}

# stop_one NAME -> SIGTERM, up to 20 s for a graceful exit, then SIGKILL.
stop_one() {
  local name=$1 pid i
  if is_ours "$name"; then
    pid=$(cat "$pid_dir/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop in 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$pid_dir/$name.pid" "$pid_dir/$name.bin"
}

stop_all() {
  local name
  for name in worker-2 worker-1 coordinator emulator; do
    stop_one "$name"
  done
  if [ -f "$pg_dir/data/postmaster.pid" ]; then
    pg_stop "$pg_dir"
    say "stopped postgres"
  fi
}

show_status() {
  local name
  for name in postgres coordinator worker-1 worker-2 emulator; do
    if [ "$name" = postgres ]; then
      if [ -f "$pg_dir/data/postmaster.pid" ]; then
        echo "postgres     running (port $(cat "$pg_dir/port" 2>/dev/null), data $pg_dir)"
      else
        echo "postgres     stopped (data $pg_dir)"
      fi
    elif is_ours "$name"; then
      printf '%-12s running (pid %s)\n' "$name" "$(cat "$pid_dir/$name.pid")"
    else
      printf '%-12s stopped\n' "$name"
    fi
  done
}

case "${1:-}" in
  stop)
    stop_all
    exit 0
    ;;
  status)
    show_status
    exit 0
    ;;
  -h|--help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
esac

pdf_dir=${1:-$here/examples}
[ -d "$pdf_dir" ] || die "no such folder: $pdf_dir"
pdf_dir=$(cd "$pdf_dir" && pwd)

# ---------------------------------------------------------------------------
# Binaries.
mkdir -p "$run_dir" "$pid_dir" "$log_dir" "$input_root"
if [ -n "${BATCHSCRIBE_BIN_DIR:-}" ]; then
  bin=$BATCHSCRIBE_BIN_DIR
else
  "$here/scripts/bootstrap.sh"
  bin=$build_dir/bin
  say "building (cmake into ${build_dir#"$here"/}/, log ${log_dir#"$here"/}/build.log)"
  { cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      && cmake --build "$build_dir" -j2 --target batchscribe-coordinator batchscribe-worker \
           openai-emulator batchscribe; } >"$log_dir/build.log" 2>&1 \
    || { tail -40 "$log_dir/build.log" >&2; die "build failed (log: $log_dir/build.log)"; }
fi
for b in batchscribe-coordinator batchscribe-worker openai-emulator batchscribe; do
  [ -x "$bin/$b" ] || die "missing $bin/$b"
done
cli=("$bin/batchscribe")

# PostgreSQL runs as the postgres user when we are root: it must reach the run folder.
chmod 755 "$run_dir"

# ---------------------------------------------------------------------------
# Ports: chosen once, then remembered.
ports_file=$run_dir/ports.env
if [ -f "$ports_file" ]; then
  # shellcheck source=/dev/null
  source "$ports_file"
fi
grpc_port=${BATCHSCRIBE_RUNLOCAL_GRPC_PORT:-${grpc_port:-50051}}
emulator_port=${BATCHSCRIBE_RUNLOCAL_EMULATOR_PORT:-${emulator_port:-18089}}
metrics_port=${BATCHSCRIBE_RUNLOCAL_METRICS_PORT:-${metrics_port:-9464}}
pg_port=${BATCHSCRIBE_RUNLOCAL_PG_PORT:-${pg_port:-$(pg_free_port)}}
cat >"$ports_file" <<EOF
grpc_port=$grpc_port
emulator_port=$emulator_port
metrics_port=$metrics_port
pg_port=$pg_port
EOF

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS COMMAND... -> polls COMMAND until it succeeds.
wait_for() {
  local name=$1 seconds=$2 i
  shift 2
  for i in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! is_ours "$name"; then
      tail -20 "$log_dir/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  tail -20 "$log_dir/$name.log" >&2 || true
  return 1
}

# shellcheck disable=SC2317  # called by the trap
interrupted() {
  trap - INT TERM
  echo
  say "interrupted: stopping the stack"
  stop_all
  exit 130
}
trap interrupted INT TERM

# ---------------------------------------------------------------------------
# PostgreSQL.
if [ -f "$pg_dir/data/postmaster.pid" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$pg_dir/port" 2>/dev/null || echo 0)"; then
  pg_port=$(cat "$pg_dir/port")
  say "postgres already running (port $pg_port)"
else
  PG_PORT=$pg_port pg_start "$pg_dir" || die "PostgreSQL did not start (see above)"
  say "started postgres (port $pg_port, data ${pg_dir#"$here"/})"
fi
psql_admin=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1)
if [ "$("${psql_admin[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'batchscribe'")" != 1 ]; then
  "${psql_admin[@]}" -c "CREATE DATABASE batchscribe"
fi
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/batchscribe"

# ---------------------------------------------------------------------------
# OpenAI: the emulator unless a key is given. The key reaches the workers through
# their environment, never their command line.
if [ -n "${OPENAI_API_KEY:-}" ]; then
  export OPENAI_BASE_URL=${OPENAI_BASE_URL:-https://api.openai.com/v1}
  say "using the OpenAI API at $OPENAI_BASE_URL (OPENAI_API_KEY is set)"
  stop_one emulator
  batch_poll_args=()
else
  if ! is_ours emulator && port_busy "$emulator_port"; then
    die "port $emulator_port is taken; set BATCHSCRIBE_RUNLOCAL_EMULATOR_PORT"
  fi
  # Seconds instead of hours, so that a demo finishes quickly; extra flags win.
  extra_flags=${BATCHSCRIBE_RUNLOCAL_EMULATOR_FLAGS:-}
  emulator_flags=()
  for default in validate_ms=500 in_progress_ms=1500 finalize_ms=500 cancel_ms=500; do
    flag=--${default%%=*}
    case " $extra_flags " in
      *" $flag "* | *" $flag="*) ;;
      *) emulator_flags+=("$flag" "${default#*=}") ;;
    esac
  done
  # shellcheck disable=SC2086  # the extra flags are meant to be split into words
  start emulator "$bin/openai-emulator" --listen "127.0.0.1:$emulator_port" \
    --state_dir "$run_dir/emulator" "${emulator_flags[@]}" $extra_flags
  wait_for emulator 30 port_busy "$emulator_port" || die "the emulator did not start"
  export OPENAI_BASE_URL=http://127.0.0.1:$emulator_port/v1
  # The emulator accepts any bearer token: this one is not a secret.
  export OPENAI_API_KEY=local-emulator
  # Emulated batches take seconds: poll them every half second to two seconds.
  batch_poll_args=(--batch_poll_min_ms 500 --batch_poll_max_ms 2000)
fi

# ---------------------------------------------------------------------------
# Coordinator and workers.
"$bin/batchscribe-coordinator" --database_url "$DATABASE_URL" --migrate_only \
  >>"$log_dir/migrate.log" 2>&1 || { tail -20 "$log_dir/migrate.log" >&2; die "migrations failed"; }
if ! is_ours coordinator && port_busy "$grpc_port"; then
  die "port $grpc_port is taken; set BATCHSCRIBE_RUNLOCAL_GRPC_PORT"
fi
start coordinator "$bin/batchscribe-coordinator" --listen "127.0.0.1:$grpc_port" \
  --database_url "$DATABASE_URL" --input_root "$input_root" --storage_root "$data_root" \
  --metrics_port "$metrics_port"
wait_for coordinator 60 "$bin/batchscribe-coordinator" --health_check "127.0.0.1:$grpc_port" \
  || die "the coordinator did not become healthy (log: $log_dir/coordinator.log)"
for i in 1 2; do
  start "worker-$i" "$bin/batchscribe-worker" --database_url "$DATABASE_URL" \
    --input_root "$input_root" --storage_root "$data_root" \
    --metrics_port $((metrics_port > 0 ? metrics_port + i : 0)) \
    --poll_interval_ms 500 "${batch_poll_args[@]}"
done
export BATCHSCRIBE_SERVER=127.0.0.1:$grpc_port

# ---------------------------------------------------------------------------
# The documents: PDF_DIR mirrored under the input root, one folder per source
# folder, so that running again on the same folder finds the same documents.
set_name=$(basename "$pdf_dir" | tr -c 'A-Za-z0-9._\n-' '_')-$(printf '%s' "$pdf_dir" | sha256sum | cut -c1-8)
set_dir=$input_root/$set_name
mkdir -p "$set_dir"
count=0
while IFS= read -r -d '' f; do
  rel=${f#./}
  dst=$set_dir/${rel%.*}.pdf   # the server's default glob wants a lower-case .pdf
  mkdir -p "$(dirname "$dst")"
  if ! [ "$pdf_dir/$rel" -ef "$dst" ]; then
    ln -f "$pdf_dir/$rel" "$dst" 2>/dev/null || cp -fp "$pdf_dir/$rel" "$dst"
  fi
  count=$((count + 1))
done < <(cd "$pdf_dir" && find . -type f -iname '*.pdf' -print0 | sort -z)
[ "$count" -gt 0 ] || die "no PDF under $pdf_dir"

model=${BATCHSCRIBE_MODEL:-gpt-4.1-mini}
mode=${BATCHSCRIBE_MODE:-batch}
# json_field a.b.c < JSON -> the value, or "" when missing.
json_field() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k, "") if isinstance(v, dict) else ""
print(v)' "$1"
}

# Follow the unfinished batch of this folder if there is one, else submit.
mkdir -p "$run_dir/batches"
batch_file=$run_dir/batches/$set_name
batch_id=
if [ -f "$batch_file" ]; then
  previous=$(cat "$batch_file")
  state=$("${cli[@]}" status "$previous" -o json 2>/dev/null | json_field batch.state || true)
  case "$state" in
    BATCH_STATE_PENDING|BATCH_STATE_RUNNING|BATCH_STATE_CANCELLING)
      batch_id=$previous
      say "resuming unfinished batch $batch_id of $pdf_dir"
      ;;
  esac
fi
if [ -z "$batch_id" ]; then
  say "submitting $count PDFs of $pdf_dir (model $model, mode $mode)"
  response=$("${cli[@]}" submit --dir "$set_name" --glob '**/*.pdf' --model "$model" \
    --mode "$mode" --display_name "run-local $set_name" --label source=run-local -o json) \
    || die "submit failed"
  batch_name=$(printf '%s' "$response" | json_field batch.name)
  batch_id=${batch_name#batches/}
  echo "$batch_id" >"$batch_file"
  say "batch $batch_id: $(printf '%s' "$response" | json_field batch.counts.total) documents, $(printf '%s' "$response" | json_field batch.counts.skipped) already transcribed (skipped)"
fi

# ---------------------------------------------------------------------------
# Live progress until the batch ends (Ctrl-C stops the stack).
rc=0
"${cli[@]}" watch "$batch_id" || rc=$?
trap - INT TERM
if [ "$rc" -ne 0 ] && [ "$rc" -lt 10 ]; then
  say "watch failed (exit $rc); the stack is still running: scripts/run-local.sh stop"
  exit "$rc"
fi

status_json=$("${cli[@]}" status "$batch_id" -o json || true)
transcripts=$data_root/transcripts/$(printf '%s' "$status_json" | json_field batch.model)
cost=$(printf '%s' "$status_json" | json_field batch.costUsd)
sync_cost=$(printf '%s' "$status_json" | json_field batch.syncEquivalentCostUsd)
echo
echo "Transcripts:  $transcripts/  ($(find "$transcripts" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l) files, one <document_id>.json per PDF)"
echo "Shard files:  $data_root/batches/$batch_id/shards/"
printf 'Cost:         this batch $%.4f; the same tokens through synchronous calls: $%.4f\n' \
  "${cost:-0}" "${sync_cost:-0}"
echo
echo "Cost history (all batches, per UTC day, model and mode):"
"${cli[@]}" costs || true
rel_bin=${bin#"$here"/}
cat <<EOF

The stack keeps running (scripts/run-local.sh status | stop). Call the coordinator:
  export BATCHSCRIBE_SERVER=127.0.0.1:$grpc_port
  $rel_bin/batchscribe list
  $rel_bin/batchscribe status $batch_id
  $rel_bin/batchscribe documents $batch_id --state failed
  $rel_bin/batchscribe submit --dir $set_name --no_skip_existing --watch   # under $input_root
  $rel_bin/batchscribe costs
  tools/node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge \\
    http://127.0.0.1:$grpc_port/batchscribe.v1.BatchService/GetBatch -d '{"name":"batches/$batch_id"}'
EOF
if [ "$metrics_port" -gt 0 ]; then
  echo "  curl -s http://127.0.0.1:$((metrics_port + 1))/metrics | grep '^batchscribe_'   # worker-1 (coordinator: $metrics_port)"
fi
exit "$rc"
