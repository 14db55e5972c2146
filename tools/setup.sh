#!/usr/bin/env bash
# Installs the Debian packages Berth builds, runs and tests with.
# Idempotent: quick and silent when everything is present; loud and non-zero
# when apt fails. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  bazel-bootstrap pkg-config g++
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libboost-dev libabsl-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libarchive-dev zlib1g-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  etcd-server etcd-client curl python3
  # openssl: the launcher's throwaway TLS CA (berth-cluster up --tls,
  # tls_test); iproute2: `ip netns` in zone_cut_test; procps: pgrep in
  # the registry benchmark.
  openssl iproute2 procps
  docker-registry nginx-light wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q >&2; then
  echo "setup: apt-get update failed" >&2; exit 1
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
  echo "setup: apt-get install failed for: ${missing[*]}" >&2; exit 1
fi
# Installing etcd-server, docker-registry (port 5000, berth serve's default)
# and nginx-light may start system services; tests and benchmarks start
# their own on free ports, so stop and disable the packaged ones.
for svc in etcd docker-registry nginx; do
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
  if command -v service >/dev/null 2>&1; then
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  fi
done
echo "setup: done" >&2
