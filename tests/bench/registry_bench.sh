#!/usr/bin/env bash
# Berth next to CNCF Distribution and nginx on this machine, in one run.
#
#   bash tests/bench/registry_bench.sh [--runs 3] [--size 67108864]
#        [--wrk-seconds 5] [--no-restore]
#
# Installs what is missing (tools/setup.sh: docker-registry, nginx-light,
# wrk, ...), builds `berth` and the load client with -c opt, then starts on
# loopback (free ports, everything under one temp dir):
#   * `berth serve` (embedded registry, default flags, access log on);
#   * CNCF Distribution (`docker-registry serve`, filesystem storage);
#   * nginx (own prefix and config, 2 workers, access log on, one 530-byte
#     static file).
# Each run measures, with tests/bench/registry_load (every pulled byte
# sha256-checked by the client):
#   * push and pull MB/s of --size incompressible tar layers at 1 and 8
#     concurrent streams (Berth: v1 json PUT + layer PUT + checksum PUT,
#     pull = layer GET; Distribution: v2 POST uploads/ + monolithic PUT
#     ?digest=, pull = blob GET);
#   * image-json GET requests/s and p50/p99 with wrk (32 keep-alive
#     connections, 2 threads) against Berth, and the static file against
#     nginx;
#   * server CPU seconds (utime + stime of the server pids) per GB moved and
#     per request.
# Prints the median of --runs runs (at least 3), the ratios to the
# issue-8 targets, and one JSON line with every figure (last line).
# Stops every process it started and removes the temp dir on exit; then
# runs a fastbuild `bazel build //tools:berth` so .bazel/bin points back at
# fastbuild (--no-restore skips that).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
RUNS=3
SIZE=$((64 << 20))
WRK_SECONDS=5
RESTORE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --wrk-seconds) WRK_SECONDS="$2"; shift 2 ;;
    --no-restore) RESTORE=0; shift ;;
    *) echo "usage: $0 [--runs N>=3] [--size BYTES] [--wrk-seconds S] [--no-restore]" >&2; exit 2 ;;
  esac
done
if [ "$RUNS" -lt 3 ]; then echo "--runs must be at least 3" >&2; exit 2; fi

log() { echo "bench: $*" >&2; }

bash "$ROOT/tools/setup.sh"
for tool in docker-registry nginx wrk curl python3; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
  command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool missing" >&2; exit 1; }
done

log "building berth and the load client (-c opt)"
(cd "$ROOT" && bazel build -c opt //tools:berth //tests/bench:registry_load >&2)

WORK="$(mktemp -d /tmp/berth-bench.XXXXXX)"
chmod 755 "$WORK"  # nginx workers run as nobody and must read the file
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    # Wait up to 5 s for the exit (tail --pid watches the process).
    timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  if [ "$RESTORE" = 1 ]; then
    (cd "$ROOT" && bazel build //tools:berth >/dev/null 2>&1) || true
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

# Private copies: a concurrent build may repoint the output symlinks.
mkdir -p "$WORK/bin"
cp "$ROOT/.bazel/out/k8-opt/bin/tools/berth" "$WORK/bin/berth"
cp "$ROOT/.bazel/out/k8-opt/bin/tests/bench/registry_load" "$WORK/bin/registry_load"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
BERTH_PORT=$(free_port)
DIST_PORT=$(free_port)
NGINX_PORT=$(free_port)

wait_http() {  # URL: until it answers 2xx, at most 20 s (curl retries)
  if curl -sf -o /dev/null --retry 60 --retry-connrefused --retry-all-errors \
      --retry-max-time 20 "$1"; then
    return 0
  fi
  echo "bench: $1 never answered" >&2
  return 1
}

# --- Berth -----------------------------------------------------------------
"$WORK/bin/berth" serve --listen "127.0.0.1:$BERTH_PORT" --data "$WORK/berth-data" \
  >"$WORK/berth.log" 2>&1 &
BERTH_PID=$!
PIDS+=("$BERTH_PID")

# --- CNCF Distribution -----------------------------------------------------
cat >"$WORK/distribution.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $WORK/distribution-data
http:
  addr: 127.0.0.1:$DIST_PORT
EOF
docker-registry serve "$WORK/distribution.yml" >"$WORK/distribution.log" 2>&1 &
DIST_PID=$!
PIDS+=("$DIST_PID")

# --- nginx ------------------------------------------------------------------
mkdir -p "$WORK/nginx/html" "$WORK/nginx/logs" "$WORK/nginx/tmp"
python3 -c 'import sys; sys.stdout.write(("berth-bench static file " * 30)[:530])' \
  >"$WORK/nginx/html/small.txt"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log $WORK/nginx/logs/access.log;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/nginx/html;
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/out.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

wait_http "http://127.0.0.1:$BERTH_PORT/v1/_ping"
wait_http "http://127.0.0.1:$DIST_PORT/v2/"
wait_http "http://127.0.0.1:$NGINX_PORT/small.txt"
NGINX_PIDS="$NGINX_PID,$(pgrep -d, -P "$NGINX_PID")"
log "berth :$BERTH_PORT (pid $BERTH_PID), distribution :$DIST_PORT (pid $DIST_PID), nginx :$NGINX_PORT (pids $NGINX_PIDS)"

cpu_of() {  # comma-separated pids -> utime+stime seconds
  python3 - "$1" <<'EOF'
import os, sys
t = 0
for pid in sys.argv[1].split(","):
    if not pid: continue
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    t += int(fields[11]) + int(fields[12])
print(t / os.sysconf("SC_CLK_TCK"))
EOF
}

# wrk URL PIDS KIND RUN -> one JSON line in results
run_wrk() {
  local url=$1 pids=$2 kind=$3 run=$4
  wrk -t2 -c32 -d1s "$url" >/dev/null  # warm-up (caches, connections)
  local c0 c1 out
  c0=$(cpu_of "$pids")
  out=$(wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency "$url")
  c1=$(cpu_of "$pids")
  python3 - "$kind" "$run" "$c0" "$c1" <<EOF >>"$WORK/results.jsonl"
import json, re, sys
out = """$out"""
def dur(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
n = int(re.search(r"(\d+) requests in", out).group(1))
p50 = dur(*re.search(r"\s50%\s+([0-9.]+)(us|ms|s)", out).groups())
p99 = dur(*re.search(r"\s99%\s+([0-9.]+)(us|ms|s)", out).groups())
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
sock = re.search(r"Socket errors: (.*)", out)
cpu = float(sys.argv[4]) - float(sys.argv[3])
print(json.dumps({"kind": sys.argv[1], "run": int(sys.argv[2]), "rps": rps,
                  "p50_ms": p50, "p99_ms": p99, "requests": n,
                  "cpu_s": cpu, "cpu_us_per_req": cpu / n * 1e6,
                  "non2xx": int(errors.group(1)) if errors else 0,
                  "socket_errors": sock.group(1) if sock else ""}))
EOF
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START"
IMAGE_ID=""
for run in $(seq "$RUNS"); do
  for streams in 1 8; do
    seed=$((run * 100 + streams))
    log "run $run: $streams stream(s), berth"
    out=$("$WORK/bin/registry_load" --flavor berth --addr "127.0.0.1:$BERTH_PORT" \
      --streams "$streams" --size "$SIZE" --seed "$seed" --pid "$BERTH_PID")
    echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); d['run']=$run; print(json.dumps(d))" \
      >>"$WORK/results.jsonl"
    [ -n "$IMAGE_ID" ] || IMAGE_ID=$(echo "$out" | python3 -c "import json,sys; print(json.load(sys.stdin)['image_id'])")
    log "run $run: $streams stream(s), distribution"
    "$WORK/bin/registry_load" --flavor distribution --addr "127.0.0.1:$DIST_PORT" \
      --streams "$streams" --size "$SIZE" --seed "$seed" --pid "$DIST_PID" |
      python3 -c "import json,sys; d=json.load(sys.stdin); d['run']=$run; print(json.dumps(d))" \
      >>"$WORK/results.jsonl"
  done
  log "run $run: wrk image json (berth), static file (nginx)"
  run_wrk "http://127.0.0.1:$BERTH_PORT/v1/images/$IMAGE_ID/json" "$BERTH_PID" berth_json "$run"
  run_wrk "http://127.0.0.1:$NGINX_PORT/small.txt" "$NGINX_PIDS" nginx_static "$run"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at end: $LOAD_END"

python3 - "$WORK/results.jsonl" "$LOAD_START" "$LOAD_END" "$SIZE" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
fig = {"runs": int(sys.argv[5]), "layer_bytes": int(sys.argv[4]),
       "load_start": sys.argv[2], "load_end": sys.argv[3]}
for flavor in ("berth", "distribution"):
    for s in (1, 8):
        rs = [r for r in rows if r.get("flavor") == flavor and r["streams"] == s]
        gb = rs[0]["bytes"] / 1e9
        fig[f"{flavor}_push{s}_mbps"] = med(r["push_mbps"] for r in rs)
        fig[f"{flavor}_pull{s}_mbps"] = med(r["pull_mbps"] for r in rs)
        fig[f"{flavor}_push{s}_cpu_s_per_gb"] = med(r["push_cpu_s"] for r in rs) / gb
        fig[f"{flavor}_pull{s}_cpu_s_per_gb"] = med(r["pull_cpu_s"] for r in rs) / gb
for kind in ("berth_json", "nginx_static"):
    rs = [r for r in rows if r.get("kind") == kind]
    fig[f"{kind}_rps"] = med(r["rps"] for r in rs)
    fig[f"{kind}_p50_ms"] = med(r["p50_ms"] for r in rs)
    fig[f"{kind}_p99_ms"] = med(r["p99_ms"] for r in rs)
    fig[f"{kind}_cpu_us_per_req"] = med(r["cpu_us_per_req"] for r in rs)
    fig[f"{kind}_errors"] = sum(r["non2xx"] for r in rs)
ratios = {
    "push1": (fig["berth_push1_mbps"] / fig["distribution_push1_mbps"], 3.5),
    "push8": (fig["berth_push8_mbps"] / fig["distribution_push8_mbps"], 3.0),
    "pull1": (fig["berth_pull1_mbps"] / fig["distribution_pull1_mbps"], 1.0),
    "pull8": (fig["berth_pull8_mbps"] / fig["distribution_pull8_mbps"], 1.0),
    "json_vs_nginx": (fig["berth_json_rps"] / fig["nginx_static_rps"], 0.5),
}
for k, (v, _) in ratios.items():
    fig[f"ratio_{k}"] = round(v, 3)
fig["json_p99_ok"] = fig["berth_json_p99_ms"] <= 5.0
print(f"median of {fig['runs']} runs; load average start {fig['load_start']}, end {fig['load_end']}")
print(f"{'figure':<26}{'berth':>12}{'distribution':>14}{'ratio':>8}{'target':>8}")
for s in (1, 8):
    for what in ("push", "pull"):
        k = f"{what}{s}"
        v, t = ratios[k]
        print(f"{what} MB/s, {s} stream(s)".ljust(26) +
              f"{fig[f'berth_{k}_mbps']:>12.0f}{fig[f'distribution_{k}_mbps']:>14.0f}"
              f"{v:>7.2f}x{t:>7.1f}x  {'met' if v >= t else 'NOT met'}")
        print(f"  cpu s/GB".ljust(26) +
              f"{fig[f'berth_{k}_cpu_s_per_gb']:>12.2f}{fig[f'distribution_{k}_cpu_s_per_gb']:>14.2f}")
v, t = ratios["json_vs_nginx"]
print(f"{'GET req/s (32 conns)':<26}{fig['berth_json_rps']:>12.0f}{fig['nginx_static_rps']:>14.0f}"
      f"{v:>7.2f}x{t:>7.1f}x  {'met' if v >= t else 'NOT met'}   (second column: nginx)")
print(f"{'  p50 / p99 ms':<26}{fig['berth_json_p50_ms']:>6.2f}/{fig['berth_json_p99_ms']:<5.2f}"
      f"{fig['nginx_static_p50_ms']:>8.2f}/{fig['nginx_static_p99_ms']:<5.2f}"
      f"  p99 <= 5 ms: {'met' if fig['json_p99_ok'] else 'NOT met'}")
print(f"{'  cpu us/request':<26}{fig['berth_json_cpu_us_per_req']:>12.1f}{fig['nginx_static_cpu_us_per_req']:>14.1f}")
print(json.dumps(fig, sort_keys=True))
if fig["berth_json_errors"] or fig["nginx_static_errors"]:
    sys.exit("bench: wrk saw non-2xx answers; figures are not valid")
EOF
