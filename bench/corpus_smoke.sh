#!/usr/bin/env bash
# Smoke test of the benchmark corpus generator (registered with ctest): the
# PDFs it makes have exactly the size asked for, and their text layer (what
# the emulator transcribes) has every page; the output file has one success
# line per document whose content parses as the shipped transcript shape.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d "${BATCHSCRIBE_TEST_TMP:-/tmp}/corpus-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 "$here/make_corpus.py" pdfs --out "$out/pdfs" --count 2 --size 50000
/usr/bin/python3 "$here/make_corpus.py" output --out "$out/output.jsonl" --count 3
for f in "$out"/pdfs/doc-000001.pdf "$out"/pdfs/doc-000002.pdf; do
  size=$(stat -c %s "$f")
  [ "$size" -eq 50000 ] || { echo "$f is $size bytes, not 50000" >&2; exit 1; }
done
text=$(pdftotext "$out/pdfs/doc-000002.pdf" -)
for p in 1 2 3; do
  grep -q "Document 000002 page $p" <<<"$text" || { echo "page $p text missing" >&2; exit 1; }
done
/usr/bin/python3 - "$out/output.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 3, lines
for i, line in enumerate(lines, 1):
    obj = json.loads(line)
    assert obj["custom_id"] == "doc-%06d" % i
    assert obj["response"]["status_code"] == 200
    content = json.loads(obj["response"]["body"]["choices"][0]["message"]["content"])
    assert [p["page"] for p in content["pages"]] == [1, 2, 3]
PY
echo "corpus smoke: ok"
