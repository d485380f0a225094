#!/usr/bin/env bash
# The benchmark command (issue 8): builds the benchmarks and the binaries they
# run in Release, starts a throwaway PostgreSQL 15 cluster, generates a
# deterministic corpus, runs every benchmark several times beside its
# comparison and prints a table of medians (also written as JSON). Always stops
# the cluster and every process it started.
#
#   scripts/bench.sh [--quick | --full] [--runs N] [--only prepare,retrieve,queue,api,e2e]
#                    [--work DIR] [--keep_corpus]
#
#   --quick   (default) small sizes: a few minutes, to check that it all runs
#   --full    the sizes of issue 8 (2,000 x 500 KB PDFs, 20,000 output lines,
#             100,000-document batch, 10,000 x 100 KB end to end): needs ~8 GB
#             of disk and a quiet machine for figures worth quoting
#   --runs N  runs of each benchmark (median reported; default 3)
#   --work    where corpora and scratch files go (default a fresh folder in /tmp)
#
# Build folder: $BATCHSCRIBE_BENCH_BUILD_DIR (default build-bench). Output:
# bench/out/results.json (git-ignored).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

profile=quick
runs=3
only=prepare,retrieve,queue,api,e2e
work=""
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) profile=quick ;;
    --full) profile=full ;;
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --work) work=$2; shift ;;
    --keep_corpus) keep=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

"$here/scripts/bootstrap.sh"

build=${BATCHSCRIBE_BENCH_BUILD_DIR:-$here/build-bench}
# Release (-O3). Warnings are scripts/test.sh's business (-Werror, -O2): at -O3
# GCC 12 reports false -Wrestrict positives in std::string code (GCC bug 105329).
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBATCHSCRIBE_WERROR=OFF >/dev/null
# Only what the benchmarks run: the bench programs and the three services.
# (The help text is read once: `grep -q` on a pipe would end cmake with SIGPIPE,
# which pipefail turns into "no such target", and then everything was built.)
known=$(cmake --build "$build" --target help 2>/dev/null || true)
targets=()
for t in bench-prepare bench-retrieve bench-durability bench-base64 bench-queue bench-api \
         batchscribe-coordinator batchscribe-worker openai-emulator; do
  if grep -q "^\.\.\. $t\$" <<<"$known"; then
    targets+=(--target "$t")
  fi
done
cmake --build "$build" -j2 "${targets[@]}"

source "$here/scripts/lib/pg.sh"
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/batchscribe-bench.XXXXXX)
fi
mkdir -p "$work"
chmod 755 "$work"
cleanup() {
  pg_stop "$work/pg"
  rm -rf "$work/pg" "$work/scratch" "$work/e2e"
  if [ "$keep" -eq 0 ]; then rm -rf "$work/corpus"; fi
}
trap cleanup EXIT INT TERM
pg_start "$work/pg"
echo "bench.sh: PostgreSQL on port $PG_PORT, work folder $work" >&2

/usr/bin/python3 "$here/bench/harness.py" --build "$build" --pg_url "$PG_URL" --pg_dir "$work/pg" --work "$work" \
  --profile "$profile" --runs "$runs" --only "$only" --out "$here/bench/out/results.json"
