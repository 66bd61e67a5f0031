#!/usr/bin/env bash
# bench-failover.sh measures how much traffic an endpoint that flaps between
# healthy and failing (503) every 5 s takes while it fails, next to three
# healthy endpoints, through the standalone proxy (retries off): with no
# outlier detection or health checks, with outlier detection, and with
# active health checks. One line per mode:
#   bench-failover: mode=<m> failing_share=<%> of healthy share
# (the flapping endpoint's failed responses as a percentage of one healthy
# endpoint's responses; about 50 % when nothing takes it out).
#
# Environment (all optional):
#   BENCH_SECONDS=40   measured seconds per mode
#   BENCH_CONNS=8      concurrent client connections
#   BENCH_MODES=none,outlier,health
#   BENCH_PROXY_BIN=path  use this proxy binary instead of building one
#
# Everything listens on 127.0.0.1; the proxy processes are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BENCH_PROXY_BIN:-}
if [ -z "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bin=$tmp/proxy
  go build -o "$bin" ./proxy/cmd/proxy
fi
go run ./hack/bench/failover -proxy "$bin" -seconds "${BENCH_SECONDS:-40}" -conns "${BENCH_CONNS:-8}" \
  -modes "${BENCH_MODES:-none,outlier,health}"
