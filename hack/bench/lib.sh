# Shell helpers shared by the benchmark scripts (hack/bench-proxy.sh, hack/bench-policy.sh).
# Source it from the repository root. The caller keeps the PIDs of what it starts in the
# array PIDS; stop_all stops exactly those, by PID.

have() { command -v "$1" >/dev/null 2>&1; }

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_all: TERM every process in PIDS, give each 5 s, then KILL; empties PIDS.
stop_all() {
	local pid i
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

# to_ms VALUE-WITH-UNIT (wrk's "812.00us", "1.20ms", "1.01s") -> milliseconds
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "NA" }'
}
