#!/usr/bin/env bash
# bench-proxy.sh compares, on this machine and against the same backend:
# the backend directly, our proxy, nginx (upstream keep-alive) and haproxy,
# over HTTP/1.1 (wrk) and h2c (h2load), at several concurrencies. It prints
# requests/s, p99 and the server's CPU time per request for each cell, the
# ratios proxy/direct and proxy/nginx, and the p99 our proxy adds at a
# fixed, ordinary rate (hack/bench/loadgen).
#
# The last line is machine-readable (HTTP/1.1, c=16, 0-byte body):
#   bench: proxy/direct=<ratio> proxy/nginx=<ratio> added_p99_ms=<ms>
#
# Environment (all optional):
#   BENCH_SECONDS=5            measured seconds per cell (plus 1 s warm-up)
#   BENCH_CONNS="1 16 256"     concurrencies
#   BENCH_PROTOS="h1 h2"       h1 = HTTP/1.1 via wrk, h2 = h2c via h2load
#   BENCH_TARGETS="direct proxy nginx haproxy"
#   BENCH_RATE=1000            requests/s for the added-p99 probe
#   BENCH_P99_ROUNDS=3         rounds of that probe (median p99 per target)
#   BENCH_REPEAT=1             runs of every cell, targets taking turns (in
#                              another order each repeat); the
#                              table shows each target's median run (by req/s)
#   BENCH_PROFILE=file.pprof   save a CPU profile of the proxy during h1 c=16
#                              and print its top functions
#   BENCH_PORT_BASE=18080      first of 7 consecutive loopback ports (unset:
#                              the first free range from 18080 up)
#   BENCH_PROXY_BIN=path       use this proxy binary instead of building ./proxy/cmd/proxy
#   BENCH_NO_INSTALL=1         never run apt-get; skip columns whose tool is missing
#
# Everything listens on 127.0.0.1. Processes this script starts are stopped
# by PID on exit; nothing else is touched.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-"1 16 256"}
PROTOS=${BENCH_PROTOS:-"h1 h2"}
TARGETS=${BENCH_TARGETS:-"direct proxy nginx haproxy"}
RATE=${BENCH_RATE:-1000}
ROUNDS=${BENCH_P99_ROUNDS:-3}
REPEAT=${BENCH_REPEAT:-1}
PROFILE=${BENCH_PROFILE:-}
BASE=${BENCH_PORT_BASE:-18080}

case "$ROUNDS" in '' | *[!0-9]*) echo "bench: BENCH_P99_ROUNDS must be a whole number" >&2; exit 2 ;; esac
case "$REPEAT" in '' | *[!0-9]* | 0) echo "bench: BENCH_REPEAT must be a whole number >= 1" >&2; exit 2 ;; esac
case "$SECS" in '' | *[!0-9]*) echo "bench: BENCH_SECONDS must be a whole number" >&2; exit 2 ;; esac
if ((SECS < 1 || SECS > 600)); then echo "bench: BENCH_SECONDS must be 1..600" >&2; exit 2; fi

P_BACKEND=$BASE
P_PROXY=$((BASE + 1))
P_NGINX_H1=$((BASE + 2))
P_NGINX_H2=$((BASE + 3))
P_HAPROXY_H1=$((BASE + 4))
P_HAPROXY_H2=$((BASE + 5))
P_PROXY_ADMIN=$((BASE + 6))

log() { echo "bench: $*" >&2; }
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh

WORK=$(mktemp -d /tmp/agw-bench.XXXXXX)
PIDS=()
declare -A SERVER_PID # target -> the PID whose CPU time (with its children) is the server's
POLICY_RC_ADDED=""

cleanup() {
	stop_all
	if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ---------------------------------------------------------------


install_tools() {
	local -a pkgs=()
	have wrk || pkgs+=(wrk)
	have h2load || pkgs+=(nghttp2-client)
	have nginx || pkgs+=(nginx)
	have haproxy || pkgs+=(haproxy)
	((${#pkgs[@]})) || return 0
	if [[ -n "${BENCH_NO_INSTALL:-}" ]] || ! have apt-get || [[ $(id -u) != 0 ]]; then
		log "missing ${pkgs[*]}; not installing (BENCH_NO_INSTALL, no apt-get or not root); their columns are skipped"
		return 0
	fi
	# apt-cache knows nothing before the first 'apt-get update'.
	local p missing_candidate=""
	for p in "${pkgs[@]}"; do
		if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then missing_candidate=1; fi
	done
	if [[ -n "$missing_candidate" ]]; then
		log "apt-get update"
		apt-get update -qq >&2
	fi
	# Keep the nginx/haproxy packages from starting system services.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_ADDED=1
	fi
	log "installing ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || log "apt-get install failed; missing tools' columns are skipped"
	if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_ADDED=""; fi
}

install_tools
if ! have wrk && [[ " $PROTOS " == *" h1 "* ]]; then log "wrk not available: h1 cells skipped"; fi
if ! have h2load && [[ " $PROTOS " == *" h2 "* ]]; then log "h2load not available: h2 cells skipped"; fi

range_free() {
	local p
	for ((p = $1; p < $1 + 7; p++)); do port_free "$p" || return 1; done
}
if ! range_free "$BASE"; then
	if [[ -n "${BENCH_PORT_BASE:-}" ]]; then
		log "a port in 127.0.0.1:$BASE-$((BASE + 6)) is in use; set BENCH_PORT_BASE to a free range of 7 ports"
		exit 1
	fi
	for ((BASE = 18087; BASE < 19000; BASE += 7)); do range_free "$BASE" && break; done
	if ((BASE >= 19000)); then log "no free range of 7 ports in 127.0.0.1:18080-18999; set BENCH_PORT_BASE"; exit 1; fi
	log "ports 18080-18086 are in use; using $BASE-$((BASE + 6))"
	P_BACKEND=$BASE P_PROXY=$((BASE + 1)) P_NGINX_H1=$((BASE + 2)) P_NGINX_H2=$((BASE + 3))
	P_HAPROXY_H1=$((BASE + 4)) P_HAPROXY_H2=$((BASE + 5)) P_PROXY_ADMIN=$((BASE + 6))
fi

# wait_http URL: until it answers 200, at most ~10 s.
wait_http() {
	local i
	for ((i = 0; i < 100; i++)); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null) == 200 ]]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# ---- build and start -----------------------------------------------------

log "building backend and loadgen"
go build -o "$WORK/backend" ./hack/bench/backend
go build -o "$WORK/loadgen" ./hack/bench/loadgen

"$WORK/backend" -addr "127.0.0.1:$P_BACKEND" 2>"$WORK/backend.log" &
PIDS+=($!)
SERVER_PID[direct]=$!
wait_http "http://127.0.0.1:$P_BACKEND/" || { log "backend did not start"; cat "$WORK/backend.log" >&2; exit 1; }

declare -A URL_H1 URL_H2 AVAILABLE
URL_H1[direct]="http://127.0.0.1:$P_BACKEND/"
URL_H2[direct]="http://127.0.0.1:$P_BACKEND/"
AVAILABLE[direct]=1

start_proxy() {
	local bin=${BENCH_PROXY_BIN:-}
	if [[ -z "$bin" ]]; then
		if [[ ! -d proxy/cmd/proxy ]] || ! ls proxy/cmd/proxy/*.go >/dev/null 2>&1; then
			log "PROXY NOT READY: ./proxy/cmd/proxy does not exist yet; the proxy columns are empty"
			return 1
		fi
		bin="$WORK/proxy"
		if ! go build -o "$bin" ./proxy/cmd/proxy 2>"$WORK/proxy-build.log"; then
			log "PROXY NOT READY: ./proxy/cmd/proxy does not build; the proxy columns are empty:"
			sed 's/^/  /' "$WORK/proxy-build.log" | head -20 >&2
			return 1
		fi
	fi
	cat >"$WORK/proxy.yaml" <<-EOF
		version: "bench"
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
		      name: bench
		      creationTimestamp: "2026-01-01T00:00:00Z"
		      rules:
		      - backendRefs: [{backend: bench}]
		backends:
		- name: bench
		  protocol: HTTP1
		  endpoints: [{address: "127.0.0.1:$P_BACKEND"}]
	EOF
	local -a args=(--config "$WORK/proxy.yaml")
	# Keep the admin server (if the binary has one) off default ports.
	local help
	help=$("$bin" --help 2>&1 || true)
	if grep -q -- '-admin-addr' <<<"$help"; then args+=(--admin-addr "127.0.0.1:$P_PROXY_ADMIN"); fi
	if grep -q -- '-admin-address' <<<"$help"; then args+=(--admin-address "127.0.0.1:$P_PROXY_ADMIN"); fi
	# No kubelet or Prometheus listeners on all interfaces (nor on ports another proxy holds).
	if grep -q -- '-health-addr' <<<"$help"; then args+=(--health-addr ""); fi
	if grep -q -- '-metrics-addr' <<<"$help"; then args+=(--metrics-addr ""); fi
	# Nothing to drain for at the end of a benchmark: exit promptly on TERM.
	if grep -q -- '-drain-period' <<<"$help"; then args+=(--drain-period 0s); fi
	if grep -q -- '-drain-timeout' <<<"$help"; then args+=(--drain-timeout 1s); fi
	"$bin" "${args[@]}" >"$WORK/proxy.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[proxy]=$!
	if ! wait_http "http://127.0.0.1:$P_PROXY/"; then
		log "PROXY NOT READY: it did not answer 200 on 127.0.0.1:$P_PROXY within 10 s; the proxy columns are empty. Its log:"
		tail -20 "$WORK/proxy.log" | sed 's/^/  /' >&2
		return 1
	fi
	PROXY_BIN_USED=$bin
	URL_H1[proxy]="http://127.0.0.1:$P_PROXY/"
	URL_H2[proxy]="http://127.0.0.1:$P_PROXY/"
	return 0
}

start_nginx() {
	have nginx || { log "nginx not available"; return 1; }
	mkdir -p "$WORK/nginx"
	# Two ports: nginx 1.22 serves only HTTP/2 on a cleartext 'http2' port.
	# keepalive_requests is raised everywhere so neither side recycles
	# connections every 1000 requests, which Go does not do either.
	cat >"$WORK/nginx/nginx.conf" <<-EOF
		worker_processes auto;
		error_log $WORK/nginx/error.log warn;
		pid $WORK/nginx/nginx.pid;
		events { worker_connections 4096; }
		http {
		  access_log off;
		  client_body_temp_path $WORK/nginx/body;
		  proxy_temp_path $WORK/nginx/proxy;
		  fastcgi_temp_path $WORK/nginx/fastcgi;
		  uwsgi_temp_path $WORK/nginx/uwsgi;
		  scgi_temp_path $WORK/nginx/scgi;
		  keepalive_requests 1000000;
		  upstream bench {
		    server 127.0.0.1:$P_BACKEND;
		    keepalive 512;
		    keepalive_requests 1000000;
		  }
		  server {
		    listen 127.0.0.1:$P_NGINX_H1;
		    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		  server {
		    listen 127.0.0.1:$P_NGINX_H2 http2;
		    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		}
	EOF
	nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/out.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[nginx]=$!
	if ! wait_http "http://127.0.0.1:$P_NGINX_H1/"; then
		log "nginx did not start:"; tail -5 "$WORK/nginx/error.log" "$WORK/nginx/out.log" >&2; return 1
	fi
	URL_H1[nginx]="http://127.0.0.1:$P_NGINX_H1/"
	URL_H2[nginx]="http://127.0.0.1:$P_NGINX_H2/"
}

start_haproxy() {
	have haproxy || { log "haproxy not available"; return 1; }
	# http-reuse always is haproxy's equivalent of nginx's upstream
	# keep-alive pool.
	cat >"$WORK/haproxy.cfg" <<-EOF
		global
		  maxconn 4096
		  nbthread $(nproc)
		defaults
		  mode http
		  timeout connect 5s
		  timeout client 60s
		  timeout server 60s
		  http-reuse always
		frontend h1
		  bind 127.0.0.1:$P_HAPROXY_H1
		  default_backend bench
		frontend h2
		  bind 127.0.0.1:$P_HAPROXY_H2 proto h2
		  default_backend bench
		backend bench
		  server s1 127.0.0.1:$P_BACKEND
	EOF
	haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[haproxy]=$!
	if ! wait_http "http://127.0.0.1:$P_HAPROXY_H1/"; then
		log "haproxy did not start:"; tail -5 "$WORK/haproxy.log" >&2; return 1
	fi
	URL_H1[haproxy]="http://127.0.0.1:$P_HAPROXY_H1/"
	URL_H2[haproxy]="http://127.0.0.1:$P_HAPROXY_H2/"
}

for t in $TARGETS; do
	case $t in
	direct) ;;
	proxy) start_proxy && AVAILABLE[proxy]=1 || true ;;
	nginx) start_nginx && AVAILABLE[nginx]=1 || true ;;
	haproxy) start_haproxy && AVAILABLE[haproxy]=1 || true ;;
	*) log "unknown target $t"; exit 2 ;;
	esac
done

# ---- measure ---------------------------------------------------------------

declare -A RPS P99 ERRS CPU SYS RUNS


threads_for() { if (($1 < 2)); then echo 1; else echo 2; fi; }

run_h1() { # target conns
	local url=${URL_H1[$1]} c=$2 t out t0 t1
	t=$(threads_for "$c")
	wrk -t"$t" -c"$c" -d1s "$url" >/dev/null 2>&1 || true # warm-up: connections, pools, caches
	t0=$(cpu_ticks "${SERVER_PID[$1]}")
	out=$(wrk -t"$t" -c"$c" -d"${SECS}s" --latency "$url" 2>&1) || true
	t1=$(cpu_ticks "${SERVER_PID[$1]}")
	local rps cpu p99 errs
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	cpu=$(cpu_per_req "$t0" "$t1" "${rps:-0}")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
	RUNS[$1,h1,$c]+="${rps:-0} $p99 $cpu $errs"$'\n'
	log "  $1 h1 c=$c: ${rps:-0} req/s, p99 $p99 ms, cpu_us/req and sys% $cpu"
}

run_h2() { # target conns
	local url=${URL_H2[$1]} c=$2 t out t0 t1 logf="$WORK/h2load.log"
	t=$(threads_for "$c")
	rm -f "$logf"
	h2load -c"$c" -t"$t" -m1 -D1 "$url" >/dev/null 2>&1 || true # warm-up
	t0=$(cpu_ticks "${SERVER_PID[$1]}")
	out=$(h2load -c"$c" -t"$t" -m1 -D"$SECS" --log-file="$logf" "$url" 2>&1) || true
	t1=$(cpu_ticks "${SERVER_PID[$1]}")
	local rps cpu p99 errs
	rps=$(awk '/^finished in/ { gsub(/,/, "", $4); printf "%.0f", $4 }' <<<"$out")
	cpu=$(cpu_per_req "$t0" "$t1" "${rps:-0}")
	# h2load prints no percentiles; its per-request log has the latency (us) in column 3.
	if [[ -s "$logf" ]]; then
		p99=$(cut -f3 "$logf" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
	else
		p99=NA
	fi
	errs=$(awk '/^requests:/ { gsub(/,/, ""); print $10 + $12 }' <<<"$out")
	RUNS[$1,h2,$c]+="${rps:-0} $p99 $cpu $errs"$'\n'
	log "  $1 h2 c=$c: ${rps:-0} req/s, p99 $p99 ms, cpu_us/req and sys% $cpu"
}

# pick_median KEY: the run with the median req/s of a cell becomes its
# result (rps p99 cpu sys% errors).
pick_median() {
	local key=$1 line
	[[ -n "${RUNS[$key]:-}" ]] || return 0
	line=$(grep . <<<"${RUNS[$key]}" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
	read -r RPS[$key] P99[$key] CPU[$key] SYS[$key] ERRS[$key] <<<"$line"
}

# The targets that started, in the order given.
ready=""
for t in $TARGETS; do
	if [[ -n "${AVAILABLE[$t]:-}" ]]; then ready+="$t "; fi
done

cells=0
for proto in $PROTOS; do
	case $proto in
	h1) have wrk || continue ;;
	h2) have h2load || continue ;;
	*) log "unknown protocol $proto"; exit 2 ;;
	esac
	for c in $CONNS; do
		for ((rep = 1; rep <= REPEAT; rep++)); do
		for t in $(turn_order $((rep - 1)) $ready); do
			log "$t $proto c=$c (${SECS}s, run $rep/$REPEAT)"
			prof_pid=""
			if [[ -n "$PROFILE" && $rep == 1 && $t == proxy && $proto == h1 && $c == 16 ]]; then
				# The 1 s warm-up runs first; the profile covers the measured part.
				(sleep 1; curl -s --max-time $((SECS + 10)) -o "$PROFILE" "http://127.0.0.1:$P_PROXY_ADMIN/debug/pprof/profile?seconds=$SECS") &
				prof_pid=$!
			fi
			"run_$proto" "$t" "$c"
			if [[ -n "$prof_pid" ]]; then wait "$prof_pid" || log "could not fetch the CPU profile from the proxy admin port"; fi
			cells=$((cells + 1))
		done
		done
		for t in $TARGETS; do pick_median "$t,$proto,$c"; done
	done
done

# Added latency at a fixed ordinary rate: loadgen paces RATE req/s over 16
# keep-alive connections and times each request from its slot. Targets take
# turns for ROUNDS rounds and each keeps its median p99, so a burst of
# unrelated load on a shared machine skews one sample, not the result.
declare -A LG_P99
declare -A LG_ALL
for ((round = 1; round <= ROUNDS; round++)); do
	for t in direct proxy nginx; do
		[[ -n "${AVAILABLE[$t]:-}" ]] || continue
		log "$t fixed rate ${RATE}/s (${SECS}s, round $round/$ROUNDS)"
		out=$("$WORK/loadgen" -url "${URL_H1[$t]}" -rate "$RATE" -conns 16 -duration "${SECS}s" 2>&1) || log "loadgen against $t reported errors: $out"
		LG_ALL[$t]+="$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out") "
	done
done
for t in "${!LG_ALL[@]}"; do
	LG_P99[$t]=$(tr ' ' '\n' <<<"${LG_ALL[$t]}" | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
done

stop_all

# ---- report ----------------------------------------------------------------

# run_ratio A B PROTO CONNS: the median over the runs of A's req/s over B's
# in the same run (targets take turns, so a run's pair saw similar load).
run_ratio() {
	local a=${RUNS[$1,$3,$4]:-} b=${RUNS[$2,$3,$4]:-}
	if [[ -z "$a" || -z "$b" ]]; then echo NA; return; fi
	paste <(grep . <<<"$a" | cut -d' ' -f1) <(grep . <<<"$b" | cut -d' ' -f1) |
		awk '$2 + 0 > 0 { r[++n] = $1 / $2 } END {
			if (!n) { print "NA"; exit }
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
			printf "%.2f", (n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2)
		}'
}

echo
echo "agentgateway-go proxy benchmark: $(nproc) cores, ${SECS}s per cell, 0-byte responses, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (results on a shared machine are noisy)"
echo "cpu_us/req: CPU time of the server under test per request (the backend for direct, otherwise the proxy alone); sys%: the kernel's share of it"
if ((REPEAT > 1)); then echo "each cell: the median of $REPEAT runs by req/s, targets taking turns"; fi
echo
printf '%-8s %-5s %6s %12s %10s %12s %5s %7s\n' target proto conns "req/s" "p99_ms" "cpu_us/req" "sys%" errors
for proto in $PROTOS; do
	for c in $CONNS; do
		for t in $TARGETS; do
			[[ -n "${RPS[$t,$proto,$c]:-}" ]] || continue
			printf '%-8s %-5s %6s %12s %10s %12s %5s %7s\n' "$t" "$proto" "$c" "${RPS[$t,$proto,$c]}" "${P99[$t,$proto,$c]}" "${CPU[$t,$proto,$c]:-NA}" "${SYS[$t,$proto,$c]:-NA}" "${ERRS[$t,$proto,$c]:-NA}"
		done
	done
done
echo
printf '%-5s %6s %14s %13s %15s\n' proto conns "proxy/direct" "proxy/nginx" "proxy/haproxy"
for proto in $PROTOS; do
	for c in $CONNS; do
		printf '%-5s %6s %14s %13s %15s\n' "$proto" "$c" \
			"$(run_ratio proxy direct "$proto" "$c")" \
			"$(run_ratio proxy nginx "$proto" "$c")" \
			"$(run_ratio proxy haproxy "$proto" "$c")"
	done
done
echo
for t in direct proxy nginx; do
	[[ -n "${LG_P99[$t]:-}" ]] && printf 'fixed %s req/s, 16 conns, h1: %-7s p99_ms=%s\n' "$RATE" "$t" "${LG_P99[$t]}"
done

if [[ -n "$PROFILE" && -s "$PROFILE" && -n "${PROXY_BIN_USED:-}" ]]; then
	echo
	echo "proxy CPU profile (h1, c=16), saved as $PROFILE:"
	go tool pprof -top -cum -nodecount=30 "$PROXY_BIN_USED" "$PROFILE" 2>/dev/null | sed -n "1,37p" || true
fi
if [[ -z "${AVAILABLE[proxy]:-}" ]]; then
	echo "bench: proxy unavailable (see PROXY NOT READY above); direct/nginx/haproxy columns only"
fi
added=NA
if [[ -n "${LG_P99[proxy]:-}" && -n "${LG_P99[direct]:-}" ]]; then
	added=$(awk -v p="${LG_P99[proxy]}" -v d="${LG_P99[direct]}" 'BEGIN { printf "%.3f", p - d }')
fi
echo "bench: proxy/direct=$(run_ratio proxy direct h1 16) proxy/nginx=$(run_ratio proxy nginx h1 16) added_p99_ms=$added"
