#!/usr/bin/env bash
# Installs what is missing, builds berth and starts the embedded registry
# (berth serve) on 127.0.0.1:5000 with data under ./berth-data. Extra
# arguments go to `berth serve` (e.g. --listen 0.0.0.0:5000 --data /srv/berth).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
ROOT="${BERTH_BAZEL_ROOT:-$HOME/.cache/berth-bazel}"
bazel --output_user_root="$ROOT" build --config=ci //tools:berth
exec "$(bazel --output_user_root="$ROOT" info --config=ci bazel-bin 2>/dev/null)/tools/berth" serve "$@"
