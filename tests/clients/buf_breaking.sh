#!/usr/bin/env bash
# buf breaking of the API in REPO against its previous committed version: HEAD when
# proto/ has uncommitted changes, else HEAD~1 (the commit before this one), or
# $BATCHSCRIBE_BUF_AGAINST (a git ref, e.g. a release tag). Exits 77 (skipped, with a
# message) only when that history is missing: not a git checkout, or a shallow clone
# without the parent commit.
#   buf_breaking.sh BUF REPO            check REPO
#   buf_breaking.sh BUF --selftest DIR  a removed field in a scratch repository must fail
set -euo pipefail
buf=$1
shift

check() {
  local repo=$1 against
  cd "$repo"
  if ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "buf_breaking: SKIPPED: $repo is not a git checkout, so there is no previous API to compare with"
    exit 77
  fi
  if [ -n "${BATCHSCRIBE_BUF_AGAINST:-}" ]; then
    against=$BATCHSCRIBE_BUF_AGAINST
  elif ! git diff --quiet HEAD -- proto buf.yaml 2>/dev/null \
      || [ -n "$(git ls-files --others --exclude-standard -- proto)" ]; then
    against=HEAD
  else
    against=HEAD~1
  fi
  if ! git rev-parse --verify -q "$against^{commit}" >/dev/null; then
    echo "buf_breaking: SKIPPED: $against is not in this clone's history (shallow clone?); fetch more history (git fetch --deepen 1) to run it"
    exit 77
  fi
  echo "buf_breaking: proto/ against $against ($(git rev-parse --short "$against"))"
  # subdir=proto: older commits have no buf.yaml at the root, only the module's.
  "$buf" breaking --against ".git#ref=$(git rev-parse "$against"),subdir=proto"
}

if [ "${1:-}" = --selftest ]; then
  dir=$2
  rm -rf "$dir"
  mkdir -p "$dir/proto/demo/v1"
  cat >"$dir/buf.yaml" <<'YAML'
version: v2
modules:
  - path: proto
breaking:
  use:
    - FILE
YAML
  printf 'syntax = "proto3";\npackage demo.v1;\nmessage Batch {\n  string name = 1;\n  int32 total = 2;\n}\n' \
    >"$dir/proto/demo/v1/demo.proto"
  git -C "$dir" init -q
  git -C "$dir" -c user.name=t -c user.email=t@t add -A
  git -C "$dir" -c user.name=t -c user.email=t@t commit -qm v1
  sed -i '/int32 total/d' "$dir/proto/demo/v1/demo.proto"
  git -C "$dir" -c user.name=t -c user.email=t@t commit -qam "drop a field"
  if out=$(check "$dir" 2>&1); then
    echo "$out"
    echo "buf_breaking selftest: FAILED: removing field 'total' was not reported"
    exit 1
  fi
  echo "$out"
  grep -q 'total' <<<"$out" || { echo "buf_breaking selftest: FAILED: the report does not name the field"; exit 1; }
  echo "buf_breaking selftest: the removed field is reported"
  exit 0
fi
check "$1"
