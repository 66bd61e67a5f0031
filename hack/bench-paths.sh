#!/usr/bin/env bash
# bench-paths.sh measures our proxy on every request path against nginx
# (Debian's, upstream keep-alive, TLS 1.3 with session cache and tickets) in
# the same run, and HAProxy where it speaks the protocol, all in front of
# the same backend (hack/bench/backend) on 127.0.0.1:
#
#   h1                 cleartext HTTP/1.1 keep-alive (wrk)
#   https-h1           HTTPS HTTP/1.1 keep-alive, TLS 1.3 (wrk)
#   https-h1-resume    a new TLS 1.3 connection per request, sessions resumed (pathload)
#   https-h1-full      a new TLS 1.3 connection per request, full handshakes (pathload)
#   https-h2           HTTPS HTTP/2 (h2load, one stream per connection)
#   h2c                cleartext HTTP/2 with prior knowledge (h2load)
#   grpc-unary         gRPC unary calls over h2c (pathload, one connection per worker)
#   grpc-stream        gRPC bidirectional stream, one message out and back per call
#   h3                 HTTP/3 (pathload with quic-go); the reference is our
#                      own HTTPS h2 from the same client, and Caddy's HTTP/3
#   policy             a route with JWT (RS256) + local rate limit + CEL
#                      header transformation (wrk, HTTP/1.1); nginx is plain
#                      proxying (it has none of these), and policy/plain is
#                      our same route without policies
#   body-up, body-down 1 MiB request bodies (POST), 1 MiB responses (pathload, HTTP/1.1)
#
# Every path prints one machine-readable line:
#   bench-<path>: proxy/nginx=<ratio> proxy_cpu_us_per_req=<n> nginx_cpu_us_per_req=<n> added_p99_ms=<ms> [more key=value]
# Ratios are medians of the per-turn ratios over BENCH_REPEAT turns; the
# extra keys give their spread and the other references.
#
# Environment (all optional):
#   BENCH_PATHS="..."          paths to run (default: all of the above)
#   BENCH_SECONDS=3            measured seconds per cell (plus 1 s warm-up)
#   BENCH_CONNS=16             concurrency (connections, workers)
#   BENCH_REPEAT=3             turns per path, targets in another order each turn
#   BENCH_RATE=1000            requests/s of the added-p99 probe (100 for bodies, 200 for new connections)
#   BENCH_P99_ROUNDS=3         rounds of that probe, direct and proxy taking turns (median p99 each)
#   BENCH_PROFILE=dir          save a CPU profile of the proxy per path (first turn) in dir
#   BENCH_PORT_BASE=18280      first of 15 consecutive loopback ports
#   BENCH_PROXY_BIN=path       use this proxy binary instead of building ./proxy/cmd/proxy
#   BENCH_NO_INSTALL=1         never run apt-get; skip columns whose tool is missing
#
# added_p99_ms: at BENCH_RATE, the proxy's p99 minus the backend's own p99
# over the nearest protocol it speaks (HTTP/1.1 cleartext for h1, HTTPS h1, h3,
# policy and bodies; h2c for https-h2 and h2c; gRPC h2c), so TLS is part of
# what the proxy adds.
#
# Everything listens on 127.0.0.1. Processes this script starts are stopped
# by PID on exit; nothing else is touched.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3

cd "$(dirname "$0")/.."

ALL_PATHS="h1 https-h1 https-h1-resume https-h1-full https-h2 h2c grpc-unary grpc-stream h3 policy body-up body-down"
PATHS=${BENCH_PATHS:-$ALL_PATHS}
SECS=${BENCH_SECONDS:-3}
C=${BENCH_CONNS:-16}
REPEAT=${BENCH_REPEAT:-3}
RATE=${BENCH_RATE:-1000}
ROUNDS=${BENCH_P99_ROUNDS:-3}
PROFILE_DIR=${BENCH_PROFILE:-}
BASE=${BENCH_PORT_BASE:-18280}

for v in SECS C REPEAT RATE ROUNDS BASE; do
	case ${!v} in '' | *[!0-9]*) echo "bench-paths: $v must be a whole number" >&2; exit 2 ;; esac
done
if ((SECS < 1 || SECS > 600 || REPEAT < 1 || C < 1)); then echo "bench-paths: BENCH_SECONDS 1..600, BENCH_REPEAT and BENCH_CONNS >= 1" >&2; exit 2; fi
for p in $PATHS; do
	[[ " $ALL_PATHS " == *" $p "* ]] || { echo "bench-paths: unknown path $p (known: $ALL_PATHS)" >&2; exit 2; }
done

P_BACKEND=$BASE P_GRPC=$((BASE + 1)) P_PROXY=$((BASE + 2)) P_PROXY_TLS=$((BASE + 3)) P_ADMIN=$((BASE + 4))
P_NGINX_H1=$((BASE + 5)) P_NGINX_TLS=$((BASE + 6)) P_NGINX_H2C=$((BASE + 7)) P_NGINX_GRPC=$((BASE + 8))
P_HAP_H1=$((BASE + 9)) P_HAP_TLS=$((BASE + 10)) P_HAP_H2C=$((BASE + 11)) P_HAP_GRPC=$((BASE + 12))
P_CADDY=$((BASE + 13)) P_CADDY_ADMIN=$((BASE + 14))
ISSUER=https://bench.example

log() { echo "bench-paths: $*" >&2; }
# shellcheck source=hack/bench/lib.sh
source hack/bench/lib.sh

WORK=$(mktemp -d /tmp/agw-bench-paths.XXXXXX)
PIDS=()
declare -A SERVER_PID AVAILABLE
POLICY_RC_ADDED=""
cleanup() {
	stop_all
	if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((p = BASE; p < BASE + 15; p++)); do
	port_free "$p" || { log "127.0.0.1:$p is in use; set BENCH_PORT_BASE to a free range of 15 ports"; exit 1; }
done

# ---- tools -------------------------------------------------------------------

install_tools() {
	local -a pkgs=()
	have wrk || pkgs+=(wrk)
	have h2load || pkgs+=(nghttp2-client)
	have nginx || pkgs+=(nginx)
	have haproxy || pkgs+=(haproxy)
	have caddy || pkgs+=(caddy)
	((${#pkgs[@]})) || return 0
	if [[ -n "${BENCH_NO_INSTALL:-}" ]] || ! have apt-get || [[ $(id -u) != 0 ]]; then
		log "missing ${pkgs[*]}; not installing (BENCH_NO_INSTALL, no apt-get or not root); their cells are skipped"
		return 0
	fi
	local p
	for p in "${pkgs[@]}"; do
		if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			log "apt-get update"
			apt-get update -qq >&2
			break
		fi
	done
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then # keep the packages from starting system services
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		POLICY_RC_ADDED=1
	fi
	log "installing ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || log "apt-get install failed; missing tools' cells are skipped"
	if [[ -n "$POLICY_RC_ADDED" ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_ADDED=""; fi
}
install_tools

# ---- certificates, backend, proxy ---------------------------------------------

log "generating a TLS certificate for this run"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=localhost -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/haproxy.pem"

log "building backend, pathload, jwt"
go build -o "$WORK/backend" ./hack/bench/backend
go build -o "$WORK/pathload" ./hack/bench/pathload
go build -o "$WORK/jwt" ./hack/bench/jwt
"$WORK/jwt" -iss "$ISSUER" -aud bench -jwks "$WORK/jwks.json" -token "$WORK/token.txt"
AUTH="Authorization: Bearer $(cat "$WORK/token.txt")"

# wait_code URL CODE [curl args...]: until URL answers CODE, at most ~10 s.
wait_code() {
	local url=$1 code=$2 i
	shift 2
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" 2>/dev/null) == "$code" ]] && return 0
		sleep 0.1
	done
	return 1
}

"$WORK/backend" -addr "127.0.0.1:$P_BACKEND" -grpc-addr "127.0.0.1:$P_GRPC" 2>"$WORK/backend.log" &
PIDS+=($!)
SERVER_PID[direct]=$!
wait_code "http://127.0.0.1:$P_BACKEND/" 200 || { log "backend did not start"; cat "$WORK/backend.log" >&2; exit 1; }

start_proxy() {
	local bin=${BENCH_PROXY_BIN:-}
	if [[ -z "$bin" ]]; then
		bin="$WORK/proxy"
		log "building proxy"
		go build -o "$bin" ./proxy/cmd/proxy
	fi
	PROXY_BIN_USED=$bin
	local jwks indent cert key routes
	jwks=$(sed 's/"/\\"/g' "$WORK/jwks.json")
	indent() { sed 's/^/          /' "$1"; }
	cert=$(indent "$WORK/cert.pem")
	key=$(indent "$WORK/key.pem")
	# The same routes on the cleartext and the TLS bind.
	routes=$(
		cat <<-EOF
			    httpRoutes:
			    - namespace: bench
			      name: plain
			      creationTimestamp: "2026-01-01T00:00:00Z"
			      rules:
			      - backendRefs: [{backend: bench}]
			    - namespace: bench
			      name: grpc
			      creationTimestamp: "2026-01-01T00:00:00Z"
			      rules:
			      - matches: [{path: {type: PathPrefix, value: /bench.Bench}, method: POST}]
			        backendRefs: [{backend: grpc}]
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
			              jwks: {inline: "$jwks"}
			          transformation:
			            request:
			              set:
			              - {name: x-user, value: 'jwt.sub'}
			              - {name: x-route, value: '"policy " + request.path'}
			          rateLimit:
			            local: [{requests: 100000000, unit: Second}]
		EOF
	)
	cat >"$WORK/proxy.yaml" <<-EOF
		version: "bench-paths"
		binds:
		- name: http
		  address: 127.0.0.1
		  port: $P_PROXY
		  protocol: HTTP
		  listeners:
		  - name: http
		    protocol: HTTP
		$routes
		- name: https
		  address: 127.0.0.1
		  port: $P_PROXY_TLS
		  protocol: HTTPS
		  http3: true
		  listeners:
		  - name: https
		    protocol: HTTPS
		    tls:
		      minVersion: "1.3"
		      certificates:
		      - certChain: |
		$cert
		        privateKey: |
		$key
		$routes
		backends:
		- name: bench
		  protocol: HTTP1
		  endpoints: [{address: "127.0.0.1:$P_BACKEND"}]
		- name: grpc
		  protocol: H2C
		  endpoints: [{address: "127.0.0.1:$P_GRPC"}]
	EOF
	"$bin" --config "$WORK/proxy.yaml" --admin-addr "127.0.0.1:$P_ADMIN" --health-addr "" --metrics-addr "" --drain-period 0s --drain-timeout 1s >"$WORK/proxy.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[proxy]=$!
	SERVER_PID[proxy-h2]=$!
	SERVER_PID[proxy-plain]=$!
	if ! wait_code "https://127.0.0.1:$P_PROXY_TLS/" 200 --cacert "$WORK/cert.pem"; then
		log "the proxy did not answer 200 over HTTPS within 10 s. Its log:"
		tail -20 "$WORK/proxy.log" | sed 's/^/  /' >&2
		exit 1
	fi
	# A broken policy must not pass for a fast one.
	wait_code "http://127.0.0.1:$P_PROXY/policy" 401 || { log "/policy without a token does not answer 401"; exit 1; }
	wait_code "http://127.0.0.1:$P_PROXY/policy" 200 -H "$AUTH" || { log "/policy with the token does not answer 200"; exit 1; }
	AVAILABLE[proxy]=1 AVAILABLE[proxy-h2]=1 AVAILABLE[proxy-plain]=1
}

start_nginx() {
	have nginx || { log "nginx not available: its cells are skipped"; return 0; }
	mkdir -p "$WORK/nginx"
	# Upstream keep-alive everywhere; TLS 1.3 with a shared session cache
	# and tickets; no request or response buffering to disk, so 1 MiB bodies
	# stream as they do through our proxy.
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
		  http2_max_requests 1000000;
		  client_max_body_size 64m;
		  proxy_request_buffering off;
		  proxy_buffering off;
		  ssl_certificate $WORK/cert.pem;
		  ssl_certificate_key $WORK/key.pem;
		  ssl_protocols TLSv1.3;
		  ssl_session_cache shared:SSL:10m;
		  ssl_session_tickets on;
		  upstream bench { server 127.0.0.1:$P_BACKEND; keepalive 512; keepalive_requests 1000000; }
		  upstream grpc { server 127.0.0.1:$P_GRPC; keepalive 512; keepalive_requests 1000000; }
		  server {
		    listen 127.0.0.1:$P_NGINX_H1;
		    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		  server {
		    listen 127.0.0.1:$P_NGINX_TLS ssl http2;
		    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		  server {
		    listen 127.0.0.1:$P_NGINX_H2C http2;
		    location / { proxy_pass http://bench; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		  server {
		    listen 127.0.0.1:$P_NGINX_GRPC http2;
		    location / { grpc_pass grpc://grpc; }
		  }
		}
	EOF
	nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/out.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[nginx]=$!
	if ! wait_code "https://127.0.0.1:$P_NGINX_TLS/" 200 --cacert "$WORK/cert.pem"; then
		log "nginx did not start:"; tail -5 "$WORK/nginx/error.log" "$WORK/nginx/out.log" >&2; return 0
	fi
	AVAILABLE[nginx]=1
}

start_haproxy() {
	have haproxy || { log "haproxy not available: its cells are skipped"; return 0; }
	cat >"$WORK/haproxy.cfg" <<-EOF
		global
		  maxconn 4096
		  nbthread $(nproc)
		  ssl-default-bind-options ssl-min-ver TLSv1.3
		defaults
		  mode http
		  timeout connect 5s
		  timeout client 60s
		  timeout server 60s
		  http-reuse always
		frontend h1
		  bind 127.0.0.1:$P_HAP_H1
		  default_backend bench
		frontend tls
		  bind 127.0.0.1:$P_HAP_TLS ssl crt $WORK/haproxy.pem alpn h2,http/1.1
		  default_backend bench
		frontend h2c
		  bind 127.0.0.1:$P_HAP_H2C proto h2
		  default_backend bench
		frontend grpc
		  bind 127.0.0.1:$P_HAP_GRPC proto h2
		  default_backend grpc
		backend bench
		  server s1 127.0.0.1:$P_BACKEND
		backend grpc
		  server g1 127.0.0.1:$P_GRPC proto h2
	EOF
	haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[haproxy]=$!
	if ! wait_code "https://127.0.0.1:$P_HAP_TLS/" 200 --cacert "$WORK/cert.pem"; then
		log "haproxy did not start:"; tail -5 "$WORK/haproxy.log" >&2; return 0
	fi
	AVAILABLE[haproxy]=1
}

start_caddy() {
	have caddy || { log "caddy not available: the h3 path has no Caddy column"; return 0; }
	# Caddy picks the certificate of a QUIC handshake by SNI only, so
	# pathload sends "localhost" (-sni) to every TLS target.
	mkdir -p "$WORK/caddy"
	cat >"$WORK/caddy/Caddyfile" <<-EOF
		{
		  admin 127.0.0.1:$P_CADDY_ADMIN
		  auto_https off
		  storage file_system $WORK/caddy/data
		  servers {
		    protocols h1 h2 h3
		  }
		}
		https://127.0.0.1:$P_CADDY, https://localhost:$P_CADDY {
		  bind 127.0.0.1
		  tls $WORK/cert.pem $WORK/key.pem
		  reverse_proxy 127.0.0.1:$P_BACKEND
		}
	EOF
	HOME=$WORK/caddy XDG_DATA_HOME=$WORK/caddy XDG_CONFIG_HOME=$WORK/caddy \
		caddy run --config "$WORK/caddy/Caddyfile" --adapter caddyfile >"$WORK/caddy/out.log" 2>&1 &
	PIDS+=($!)
	SERVER_PID[caddy]=$!
	if ! wait_code "https://127.0.0.1:$P_CADDY/" 200 --cacert "$WORK/cert.pem"; then
		log "caddy did not start:"; tail -5 "$WORK/caddy/out.log" >&2; return 0
	fi
	if ! "$WORK/pathload" -mode h3 -url "https://127.0.0.1:$P_CADDY/" -ca "$WORK/cert.pem" -sni localhost -conns 1 -duration 200ms -warmup 0 >/dev/null 2>"$WORK/caddy/h3check.log"; then
		log "caddy's HTTP/3 does not answer: the h3 path has no Caddy column ($(tail -1 "$WORK/caddy/h3check.log"))"
		return 0
	fi
	AVAILABLE[caddy]=1
}

start_proxy
start_nginx
start_haproxy
[[ " $PATHS " == *" h3 "* ]] && start_caddy

# ---- what each cell runs ---------------------------------------------------------

# targets_of PATH: the targets measured on PATH (those that started are kept).
targets_of() {
	case $1 in
	h3) echo proxy proxy-h2 caddy ;;
	policy) echo proxy proxy-plain nginx ;;
	*) echo proxy nginx haproxy ;;
	esac
}

# url_of PATH TARGET
url_of() {
	local path=$1 t=$2
	case $t in
	proxy)
		case $path in
		https-h1* | https-h2 | h3) echo "https://127.0.0.1:$P_PROXY_TLS/" ;;
		policy) echo "http://127.0.0.1:$P_PROXY/policy" ;;
		*) echo "http://127.0.0.1:$P_PROXY/" ;;
		esac ;;
	proxy-h2) echo "https://127.0.0.1:$P_PROXY_TLS/" ;;
	proxy-plain) echo "http://127.0.0.1:$P_PROXY/plain" ;;
	caddy) echo "https://127.0.0.1:$P_CADDY/" ;;
	nginx)
		case $path in
		https-*) echo "https://127.0.0.1:$P_NGINX_TLS/" ;;
		h2c) echo "http://127.0.0.1:$P_NGINX_H2C/" ;;
		*) echo "http://127.0.0.1:$P_NGINX_H1/" ;;
		esac ;;
	haproxy)
		case $path in
		https-*) echo "https://127.0.0.1:$P_HAP_TLS/" ;;
		h2c) echo "http://127.0.0.1:$P_HAP_H2C/" ;;
		*) echo "http://127.0.0.1:$P_HAP_H1/" ;;
		esac ;;
	direct)
		case $path in
		https-h2 | h2c) echo "http://127.0.0.1:$P_BACKEND/" ;;
		policy) echo "http://127.0.0.1:$P_BACKEND/policy" ;;
		*) echo "http://127.0.0.1:$P_BACKEND/" ;;
		esac ;;
	esac
}

grpc_target_of() {
	case $1 in
	proxy) echo "127.0.0.1:$P_PROXY" ;;
	nginx) echo "127.0.0.1:$P_NGINX_GRPC" ;;
	haproxy) echo "127.0.0.1:$P_HAP_GRPC" ;;
	direct) echo "127.0.0.1:$P_GRPC" ;;
	esac
}

MIB=1048576
# pathload_args PATH TARGET: pathload's flags for the path (URL included).
pathload_args() {
	local path=$1 t=$2 url
	url=$(url_of "$path" "$t")
	case $path in
	https-h1-resume) echo -mode h1 -new-conn -resume -url "$url" ;;
	https-h1-full) echo -mode h1 -new-conn -url "$url" ;;
	h1 | https-h1 | policy) echo -mode h1 -url "$url" ;;
	https-h2 | h2c) echo -mode h2 -url "$url" ;;
	grpc-unary | grpc-stream) echo -mode "$path" -target "$(grpc_target_of "$t")" ;;
	h3) if [[ $t == proxy || $t == caddy ]]; then echo -mode h3 -url "$url"; elif [[ $t == proxy-h2 ]]; then echo -mode h2 -url "$url"; else echo -mode h1 -url "$url"; fi ;;
	body-up) echo -mode h1 -body $MIB -url "$url" ;;
	body-down) echo -mode h1 -url "$url?size=$MIB" ;;
	esac
}

# tool_of PATH: wrk, h2load or pathload.
tool_of() {
	case $1 in
	h1 | https-h1 | policy) have wrk && echo wrk || echo pathload ;;
	https-h2 | h2c) have h2load && echo h2load || echo pathload ;;
	*) echo pathload ;;
	esac
}

threads() { if ((C < 2)); then echo 1; else echo 2; fi; }

# load PATH TARGET SECONDS: runs the load; sets L_RPS L_P99 L_ERR L_RES.
load() {
	local path=$1 t=$2 secs=$3 url out logf="$WORK/h2load.log"
	local -a hdr=()
	url=$(url_of "$path" "$t")
	[[ $path == policy ]] && hdr=(-H "$AUTH")
	L_RES=NA
	case $(tool_of "$path") in
	wrk)
		out=$(wrk -t"$(threads)" -c"$C" -d"${secs}s" --latency "${hdr[@]}" "$url" 2>&1) || true
		L_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
		L_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
		L_ERR=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
		;;
	h2load)
		rm -f "$logf"
		out=$(h2load -c"$C" -t"$(threads)" -m1 -D"$secs" --log-file="$logf" "$url" 2>&1) || true
		L_RPS=$(awk '/^finished in/ { gsub(/,/, "", $4); printf "%.0f", $4 }' <<<"$out")
		L_P99=NA
		[[ -s "$logf" ]] && L_P99=$(cut -f3 "$logf" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
		L_ERR=$(awk '/^requests:/ { gsub(/,/, ""); print $10 + $12 }' <<<"$out")
		;;
	pathload)
		local h=""
		[[ $path == policy ]] && h=$AUTH
		# shellcheck disable=SC2046 # pathload_args prints separate flags
		out=$("$WORK/pathload" $(pathload_args "$path" "$t") -header "$h" -ca "$WORK/cert.pem" -sni localhost -conns "$C" -duration "${secs}s" -warmup 0 2>"$WORK/pathload.err") || true
		L_RPS=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$out")
		L_P99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
		L_ERR=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
		L_RES=$(sed -n 's/.*resumed=\([0-9.NA]*\).*/\1/p' <<<"$out")
		[[ -s "$WORK/pathload.err" ]] && log "  pathload: $(head -1 "$WORK/pathload.err")"
		;;
	esac
	L_RPS=${L_RPS:-0} L_P99=${L_P99:-NA} L_ERR=${L_ERR:-NA}
}

# ---- measure ---------------------------------------------------------------------

declare -A RUNS LG
for path in $PATHS; do
	ready=""
	for t in $(targets_of "$path"); do [[ -n "${AVAILABLE[$t]:-}" ]] && ready+="$t "; done
	for ((rep = 0; rep < REPEAT; rep++)); do
		for t in $(turn_order "$rep" $ready); do
			load "$path" "$t" 1 # warm-up: connections, pools, caches
			prof_pid=""
			if [[ -n "$PROFILE_DIR" && $rep == 0 && $t == proxy ]]; then
				mkdir -p "$PROFILE_DIR"
				curl -s --max-time $((SECS + 10)) -o "$PROFILE_DIR/$path.pprof" "http://127.0.0.1:$P_ADMIN/debug/pprof/profile?seconds=$SECS" &
				prof_pid=$!
			fi
			t0=$(cpu_ticks "${SERVER_PID[$t]}")
			load "$path" "$t" "$SECS"
			t1=$(cpu_ticks "${SERVER_PID[$t]}")
			[[ -n "$prof_pid" ]] && { wait "$prof_pid" || log "no CPU profile for $path"; }
			read -r cpu _ <<<"$(cpu_per_req "$t0" "$t1" "$L_RPS")"
			RUNS[$path,$t]+="$L_RPS $L_P99 $cpu $L_ERR $L_RES"$'\n'
			log "$path $t (turn $((rep + 1))/$REPEAT): $L_RPS req/s, p99 $L_P99 ms, cpu_us/req $cpu, errors $L_ERR, resumed $L_RES"
		done
	done
	# Added p99 at an ordinary rate: the proxy against the backend itself.
	rate=$RATE
	[[ $path == body-* ]] && rate=$((RATE / 10))
	[[ $path == https-h1-* ]] && rate=$((RATE / 5))
	# Rounds alternate the two and each keeps its median p99, so a burst of
	# unrelated load skews one sample, not the result.
	for ((round = 0; round < ROUNDS; round++)); do
		for t in $(turn_order "$round" direct proxy); do
			[[ $t == direct || -n "${AVAILABLE[$t]:-}" ]] || continue
			hdr=(-header "")
			[[ $path == policy && $t == proxy ]] && hdr=(-header "$AUTH")
			# shellcheck disable=SC2046
			out=$("$WORK/pathload" $(pathload_args "$path" "$t") "${hdr[@]}" -ca "$WORK/cert.pem" -sni localhost -conns "$C" -rate "$rate" -duration "${SECS}s" -warmup 1s 2>/dev/null) || true
			LG[$path,$t]+="$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out") "
		done
	done
	for t in direct proxy; do
		LG[$path,$t]=$(tr ' ' '\n' <<<"${LG[$path,$t]:-}" | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
	done
done

stop_all

# ---- report ----------------------------------------------------------------------

# field KEY N: the Nth field (1 rps, 2 p99, 3 cpu, 4 errors, 5 resumed) of the
# median run by req/s.
median_run() { grep . <<<"${RUNS[$1]:-}" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { if (NR) print l[int((NR + 1) / 2)] }'; }
# spread KEY: min-max req/s over the runs.
spread() { grep . <<<"${RUNS[$1]:-}" | awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 } END { if (NR) printf "%d-%d", lo, hi }'; }
# ratio PATH A B: median and range of A/B over turns, "median lo-hi".
ratio() {
	local a=${RUNS[$1,$2]:-} b=${RUNS[$1,$3]:-}
	if [[ -z "$a" || -z "$b" ]]; then echo "NA NA"; return; fi
	paste <(grep . <<<"$a" | cut -d' ' -f1) <(grep . <<<"$b" | cut -d' ' -f1) |
		awk '$2 + 0 > 0 { r[++n] = $1 / $2 } END {
			if (!n) { print "NA NA"; exit }
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
			printf "%.2f %.2f-%.2f\n", (n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2), r[1], r[n]
		}'
}

echo
echo "agentgateway-go path benchmark: $(nproc) cores, c=$C, ${SECS}s per cell, $REPEAT turns, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (load tool, servers and backend share the cores)"
echo "each cell: the median turn by req/s (range over turns); cpu_us/req: the server's CPU time per request"
echo
printf '%-16s %-12s %10s %15s %9s %11s %7s %8s\n' path target "req/s" range p99_ms cpu_us/req errors resumed
for path in $PATHS; do
	for t in $(targets_of "$path"); do
		[[ -n "${RUNS[$path,$t]:-}" ]] || continue
		read -r rps p99 cpu errs res <<<"$(median_run "$path,$t")"
		printf '%-16s %-12s %10s %15s %9s %11s %7s %8s\n' "$path" "$t" "$rps" "$(spread "$path,$t")" "$p99" "$cpu" "$errs" "$res"
	done
done
echo
for path in $PATHS; do
	cpu_of() { local r; r=$(median_run "$path,$1"); [[ -n "$r" ]] && awk '{ print $3 }' <<<"$r" || echo NA; }
	added=NA
	if [[ -n "${LG[$path,proxy]:-}" && -n "${LG[$path,direct]:-}" ]]; then
		added=$(awk -v p="${LG[$path,proxy]}" -v d="${LG[$path,direct]}" 'BEGIN { printf "%.3f", p - d }')
	fi
	read -r rn rnr <<<"$(ratio "$path" proxy nginx)"
	extra=" proxy/nginx_range=$rnr"
	case $path in
	h3)
		read -r a ar <<<"$(ratio "$path" proxy proxy-h2)"
		read -r b br <<<"$(ratio "$path" proxy caddy)"
		extra=" proxy/proxy_h2=$a proxy/proxy_h2_range=$ar proxy/caddy=$b proxy/caddy_range=$br"
		;;
	policy)
		read -r a ar <<<"$(ratio "$path" proxy proxy-plain)"
		extra+=" policy/plain=$a policy/plain_range=$ar"
		;;
	*)
		read -r a ar <<<"$(ratio "$path" proxy haproxy)"
		extra+=" proxy/haproxy=$a"
		;;
	esac
	echo "bench-$path: proxy/nginx=$rn proxy_cpu_us_per_req=$(cpu_of proxy) nginx_cpu_us_per_req=$(cpu_of nginx) added_p99_ms=$added$extra"
done
