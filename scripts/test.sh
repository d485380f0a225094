#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as errors,
# starts a throwaway PostgreSQL 15 cluster, runs the whole ctest suite against
# it, and always stops the cluster. Exit status is ctest's.
#   scripts/test.sh [-R REGEX]   (extra arguments go to ctest)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/bootstrap.sh"

build=${BATCHSCRIBE_BUILD_DIR:-$here/build}
# -O2 without debug info: the same warnings as the default RelWithDebInfo build
# (so -Werror sees the same code) for about a quarter less compile time.
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DBATCHSCRIBE_WERROR=ON >/dev/null
cmake --build "$build" -j2

source "$here/scripts/lib/pg.sh"
run=$(mktemp -d /tmp/batchscribe-test.XXXXXX)
chmod 755 "$run"
cleanup() {
  pg_stop "$run/pg"
  rm -rf "$run"
}
trap cleanup EXIT INT TERM
pg_start "$run/pg"
echo "test.sh: PostgreSQL on port $PG_PORT"

export BATCHSCRIBE_TEST_PG_URL="$PG_URL"
export BATCHSCRIBE_TEST_PG_DIR="$run/pg"
export BATCHSCRIBE_TEST_TMP="$run"
cd "$build"
ctest --output-on-failure --timeout 900 -j2 "$@"
