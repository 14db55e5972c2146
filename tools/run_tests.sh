#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test.
# The last line is "N passed, M failed" (GoogleTest cases across all
# targets); the exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

ROOT="${BERTH_BAZEL_ROOT:-$HOME/.cache/berth-bazel}"
BAZEL=(bazel --output_user_root="$ROOT")
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

"${BAZEL[@]}" test --config=ci //... 2>&1 | tee "$OUT"
bazel_rc=${PIPESTATUS[0]}
testlogs="$("${BAZEL[@]}" info --config=ci bazel-testlogs 2>/dev/null)"
python3 tools/test_summary.py "$OUT" "$testlogs"
summary_rc=$?
"${BAZEL[@]}" shutdown >/dev/null 2>&1
if [ "$bazel_rc" -ne 0 ] && [ "$summary_rc" -eq 0 ]; then
  echo "bazel exited with $bazel_rc"
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$summary_rc"
