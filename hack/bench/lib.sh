# Shell helpers shared by the benchmark scripts (hack/bench-proxy.sh, hack/bench-policy.sh,
# hack/bench-paths.sh).
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

# cpu_ticks PID: "user system" clock ticks of PID and its direct children
# (nginx workers), from /proc.
cpu_ticks() {
	local root=$1 user=0 sys=0 f line rest pid
	local -a v
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		rest=${line##*) }
		read -r -a v <<<"$rest"
		pid=${f#/proc/}
		pid=${pid%/stat}
		# After "(comm) ": v[0]=state v[1]=ppid ... v[11]=utime v[12]=stime
		if [[ $pid == "$root" || ${v[1]} == "$root" ]]; then
			user=$((user + v[11]))
			sys=$((sys + v[12]))
		fi
	done
	echo "$user $sys"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_per_req "U0 S0" "U1 S1" RPS: (SECS measured seconds) server CPU microseconds per request, and
# the kernel's share of it. On a shared machine this is steadier than
# req/s, which depends on how much CPU the server was given.
cpu_per_req() {
	awk -v a="$1" -v b="$2" -v r="$3" -v s="$SECS" -v hz="$CLK_TCK" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		u = y[1] - x[1]; k = y[2] - x[2]
		if (r + 0 == 0) { print "NA NA"; exit }
		printf "%.1f %s\n", (u + k) * 1e6 / hz / (r * s), (u + k > 0 ? sprintf("%.0f", 100 * k / (u + k)) : "NA")
	}'
}

# turn_order N WORDS...: the order of the targets in repeat N (from 0): rotated
# by N/2 (rounded down), and reversed in odd repeats, so that no target always
# runs right after the same one (on a shared 2-core machine a run can be skewed
# by what ran just before it). Three targets go through all six orders in six
# repeats, two through both in two.
turn_order() {
	local n=$1
	shift
	local -a w=("$@") out=()
	local k=${#w[@]} i r
	((k > 0)) || return 0
	r=$((n / 2))
	for ((i = 0; i < k; i++)); do out+=("${w[(i + r) % k]}"); done
	if ((n % 2 == 1)); then
		for ((i = k - 1; i >= 0; i--)); do echo -n "${out[i]} "; done
		echo
	else
		echo "${out[@]}"
	fi
}

