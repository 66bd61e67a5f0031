#!/usr/bin/env bash
# bench-policy.sh measures what a typical traffic policy costs on the request
# path. One proxy (./proxy/cmd/proxy --config) serves two routes to the same
# backend (hack/bench/backend, 0-byte answers):
#
#   /plain   no policy
#   /policy  JWT authentication (RS256, inline JWKS), a CEL request-header
#            transformation (two headers from jwt.sub and request.path) and a
#            local rate limit far above the offered load
#
# wrk sends HTTP/1.1 at c=16 to each in turn (both with the same bearer
# token) and the script prints requests/s and p99 for both and the ratio
# policy/plain. Before measuring it checks that /policy answers 401 without
# the token and 200 with it, so a broken policy cannot pass for a fast one.
#
# The last line is machine-readable:
#   bench-policy: plain_rps=<n> policy_rps=<n> ratio=<r> policy_p99_ms=<ms>
#
# Environment (all optional):
#   BENCH_SECONDS=10           measured seconds per route (plus 1 s warm-up)
#   BENCH_CONNS=16             wrk connections
#   BENCH_PORT_BASE=18180      first of 3 consecutive loopback ports
#   BENCH_PROXY_BIN=path       use this proxy binary instead of building ./proxy/cmd/proxy
#   BENCH_NO_INSTALL=1         never run apt-get (wrk is required)
#
# Everything listens on 127.0.0.1. Processes this script starts are stopped
# by PID on exit; nothing else is touched.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-16}
BASE=${BENCH_PORT_BASE:-18180}

case "$SECS" in '' | *[!0-9]*) echo "bench-policy: BENCH_SECONDS must be a whole number" >&2; exit 2 ;; esac
if ((SECS < 1 || SECS > 600)); then echo "bench-policy: BENCH_SECONDS must be 1..600" >&2; exit 2; fi
case "$CONNS" in '' | *[!0-9]*) echo "bench-policy: BENCH_CONNS must be a whole number" >&2; exit 2 ;; esac

P_BACKEND=$BASE
P_PROXY=$((BASE + 1))
P_ADMIN=$((BASE + 2))
ISSUER=https://bench.example

log() { echo "bench-policy: $*" >&2; }
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh

WORK=$(mktemp -d /tmp/agw-bench-policy.XXXXXX)
PIDS=()

cleanup() {
	stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


if ! have wrk; then
	if [[ -n "${BENCH_NO_INSTALL:-}" ]] || ! have apt-get || [[ $(id -u) != 0 ]]; then
		log "wrk is required (apt-get install wrk)"
		exit 1
	fi
	if ! apt-cache policy wrk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		log "apt-get update"
		apt-get update -qq >&2
	fi
	log "installing wrk"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >&2
fi

for p in $P_BACKEND $P_PROXY $P_ADMIN; do
	if ! port_free "$p"; then
		log "port 127.0.0.1:$p is in use; set BENCH_PORT_BASE to a free range of 3 ports"
		exit 1
	fi
done

# status URL [HEADER]: the HTTP status code, or 000.
status() {
	local -a h=()
	[[ -n "${2:-}" ]] && h=(-H "$2")
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${h[@]}" "$1" 2>/dev/null || true
}

# wait_status URL CODE [HEADER]: until URL answers CODE, at most ~10 s.
wait_status() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(status "$1" "${3:-}") == "$2" ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---- build and start -------------------------------------------------------

log "building backend and token generator"
go build -o "$WORK/backend" ./hack/bench/backend
go build -o "$WORK/jwt" ./hack/bench/jwt
"$WORK/jwt" -iss "$ISSUER" -aud bench -jwks "$WORK/jwks.json" -token "$WORK/token.txt"
TOKEN=$(cat "$WORK/token.txt")
AUTH="Authorization: Bearer $TOKEN"

PROXY_BIN=${BENCH_PROXY_BIN:-}
if [[ -z "$PROXY_BIN" ]]; then
	log "building proxy"
	PROXY_BIN="$WORK/proxy"
	if ! go build -o "$PROXY_BIN" ./proxy/cmd/proxy 2>"$WORK/proxy-build.log"; then
		log "./proxy/cmd/proxy does not build (set BENCH_PROXY_BIN to a built proxy):"
		sed 's/^/  /' "$WORK/proxy-build.log" | head -20 >&2
		exit 1
	fi
fi

"$WORK/backend" -addr "127.0.0.1:$P_BACKEND" 2>"$WORK/backend.log" &
PIDS+=($!)
wait_status "http://127.0.0.1:$P_BACKEND/" 200 || { log "backend did not start"; cat "$WORK/backend.log" >&2; exit 1; }

# The JWKS is JSON, hence valid YAML as a double-quoted scalar once its quotes
# are escaped.
JWKS=$(sed 's/"/\\"/g' "$WORK/jwks.json")
cat >"$WORK/proxy.yaml" <<EOF
version: "bench-policy"
binds:
- name: bench
  address: 127.0.0.1
  port: $P_PROXY
  protocol: HTTP
  listeners:
  - name: bench
    protocol: HTTP
    httpRoutes:
    - namespace: bench
      name: plain
      creationTimestamp: "2026-01-01T00:00:00Z"
      rules:
      - matches: [{path: {type: PathPrefix, value: /plain}}]
        backendRefs: [{backend: bench}]
    - namespace: bench
      name: policy
      creationTimestamp: "2026-01-01T00:00:00Z"
      rules:
      - matches: [{path: {type: PathPrefix, value: /policy}}]
        backendRefs: [{backend: bench}]
        traffic:
          jwtAuthentication:
            providers:
            - name: bench
              issuer: $ISSUER
              audiences: [bench]
              jwks: {inline: "$JWKS"}
          transformation:
            request:
              set:
              - {name: x-user, value: 'jwt.sub'}
              - {name: x-route, value: '"policy " + request.path'}
          rateLimit:
            local: [{requests: 100000000, unit: Second}]
backends:
- name: bench
  protocol: HTTP1
  endpoints: [{address: "127.0.0.1:$P_BACKEND"}]
EOF
"$PROXY_BIN" --config "$WORK/proxy.yaml" --admin-addr "127.0.0.1:$P_ADMIN" --health-addr "" --metrics-addr "" --drain-period 0s --drain-timeout 1s >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
if ! wait_status "http://127.0.0.1:$P_PROXY/plain" 200; then
	log "the proxy did not answer 200 on /plain within 10 s. Its log:"
	tail -20 "$WORK/proxy.log" | sed 's/^/  /' >&2
	exit 1
fi
if [[ $(status "http://127.0.0.1:$P_PROXY/policy") != 401 ]]; then
	log "/policy without a token must answer 401, got $(status "http://127.0.0.1:$P_PROXY/policy"); the policy is not in effect"
	exit 1
fi
if [[ $(status "http://127.0.0.1:$P_PROXY/policy" "$AUTH") != 200 ]]; then
	log "/policy with the token must answer 200, got $(status "http://127.0.0.1:$P_PROXY/policy" "$AUTH"). Proxy log:"
	tail -20 "$WORK/proxy.log" | sed 's/^/  /' >&2
	exit 1
fi

# ---- measure ---------------------------------------------------------------


declare -A RPS P99 ERRS
threads=2
((CONNS < 2)) && threads=1
for route in plain policy; do
	url="http://127.0.0.1:$P_PROXY/$route"
	log "$route: wrk c=$CONNS (${SECS}s)"
	wrk -t"$threads" -c"$CONNS" -d1s -H "$AUTH" "$url" >/dev/null 2>&1 || true # warm-up
	out=$(wrk -t"$threads" -c"$CONNS" -d"${SECS}s" --latency -H "$AUTH" "$url" 2>&1) || true
	RPS[$route]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	P99[$route]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	ERRS[$route]=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
	if [[ -z "${RPS[$route]}" ]]; then
		log "wrk printed no result for $route:"
		sed 's/^/  /' <<<"$out" >&2
		RPS[$route]=NA
	fi
done

stop_all

# ---- report ----------------------------------------------------------------

ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf "%.2f", a / b }'; }

echo
echo "agentgateway-go policy-path benchmark: $(nproc) cores, HTTP/1.1, c=$CONNS, ${SECS}s per route, 0-byte responses, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "policy route: JWT RS256 (inline JWKS) + CEL request-header transformation (2 headers) + local rate limit (never reached)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (load tool, proxy and backend share the cores; results on a shared machine are noisy)"
echo
printf '%-8s %12s %10s %8s\n' route "req/s" "p99_ms" errors
for route in plain policy; do
	printf '%-8s %12s %10s %8s\n' "$route" "${RPS[$route]}" "${P99[$route]}" "${ERRS[$route]}"
done
if [[ ${ERRS[plain]} != 0 || ${ERRS[policy]} != 0 ]]; then
	log "wrk saw errors or non-2xx answers: the numbers above are not comparable"
fi
echo
echo "bench-policy: plain_rps=${RPS[plain]} policy_rps=${RPS[policy]} ratio=$(ratio "${RPS[policy]}" "${RPS[plain]}") policy_p99_ms=${P99[policy]}"
