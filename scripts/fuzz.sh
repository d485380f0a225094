#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (every library they use is instrumented too) in a
# build folder of their own, then fuzzes each target for a while.
#
#   scripts/fuzz.sh [--seconds N] [--build_dir DIR] [TARGET...]
#
#   --seconds N     fuzzing time per target (default 60; the test suite uses 5)
#   --build_dir DIR clang build folder (default build-fuzz)
#   TARGET          result_line, request_line, submit_request (default: all)
#
# New interesting inputs go to DIR/fuzz-work/TARGET/corpus (the seed corpus in
# fuzz/corpus/TARGET is read, never written). A crash stops the run with its
# input in DIR/fuzz-work/TARGET/artifacts/: copy it to fuzz/regressions/TARGET/
# so that the normal test suite replays it (fuzz_replay_TARGET), and fix the bug.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

seconds=60
build="$here/build-fuzz"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --build_dir) build=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown flag $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(result_line request_line submit_request)

cc=$(command -v clang-14 || command -v clang || true)
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "fuzz.sh: clang is not installed (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi

sanitizers="-fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
only="libs/common;libs/pricing;libs/jsonl;libs/storage;libs/db;libs/queue;libs/pdf;services/coordinator;services/openai-emulator;fuzz"
# Other folders' code may warn under clang: warnings are not errors here.
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_C_FLAGS="$sanitizers -fno-omit-frame-pointer" \
  -DCMAKE_CXX_FLAGS="$sanitizers -fno-omit-frame-pointer" \
  -DBATCHSCRIBE_FUZZ=ON -DBATCHSCRIBE_WERROR=OFF -DBATCHSCRIBE_ONLY="$only" >/dev/null
cmake --build "$build" -j2 --target "${targets[@]/%/_fuzzer}" >"$build/fuzz-build.log" 2>&1 || {
  tail -50 "$build/fuzz-build.log" >&2
  echo "fuzz.sh: building the fuzz targets failed (log: $build/fuzz-build.log)" >&2
  exit 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for target in "${targets[@]}"; do
  work="$build/fuzz-work/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  dict=()
  [ -f "$here/fuzz/dictionaries/$target.dict" ] && dict=(-dict="$here/fuzz/dictionaries/$target.dict")
  echo "fuzz.sh: $target for ${seconds}s"
  # Seeds: what earlier runs found (the first folder, the only one written
  # to) and the corpus in the repository. Recorded crashes are not seeds: until
  # fixed they would stop every run at once; fuzz_replay_TARGET replays them.
  seeds=("$work/corpus" "$here/fuzz/corpus/$target")
  if ! "$build/bin/${target}_fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
      -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" \
      "${seeds[@]}" >"$work/last-run.log" 2>&1; then
    tail -60 "$work/last-run.log"
    echo "fuzz.sh: $target found a crash; its input is in $work/artifacts/." >&2
    echo "  Copy it to fuzz/regressions/$target/ (replayed by ctest -R fuzz_replay_$target)." >&2
    status=1
    continue
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)|^#[0-9]+.*DONE" "$work/last-run.log" |
    sed "s/^/fuzz.sh: $target: /" || true
done
exit $status
