package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/e2e/localcluster"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time (user + system, all threads) each process of interest has used
// so far, by role. A phase's difference of two samples shows where the machine's CPU went
// while it ran: with every component on the same cores, a slow apiserver write may be
// the apiserver's own work or the CPU others took from it.
type cpuSample map[string]time.Duration

// sampleCPU reads the apiserver and etcd of the local cluster (by the pid files it keeps;
// absent on other clusters), the operator replicas, the benchmark's proxies and this
// driver.
func (b *bench) sampleCPU(ctx context.Context) cpuSample {
	s := cpuSample{}
	add := func(role string, pid int) {
		if d, err := cpuOf(pid); err == nil {
			s[role] += d
		}
	}
	run := filepath.Join(localcluster.DefaultStateDir(), "run")
	for _, name := range []string{"kube-apiserver", "etcd"} {
		// "<pid> <start time>": the start time lets the cluster tell a reused pid apart.
		if raw, err := os.ReadFile(filepath.Join(run, name+".pid")); err == nil {
			if f := strings.Fields(string(raw)); len(f) > 0 {
				if pid, err := strconv.Atoi(f[0]); err == nil {
					add(name, pid)
				}
			}
		}
	}
	if ops, err := operatorProcs(ctx, b.c); err == nil {
		for _, p := range ops {
			if p.leader {
				add("operator leader", p.pid)
			} else {
				add("operator follower", p.pid)
			}
		}
	}
	if proxies, err := podProcs(ctx, b.c, b.o.namespace, client.MatchingLabels{"gateway.networking.k8s.io/gateway-name": b.o.gateway}); err == nil {
		for _, p := range proxies {
			add("proxies", p.pid)
		}
	}
	add("this driver", os.Getpid())
	return s
}

// cpuOf reads a process's user and system time from /proc.
func cpuOf(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(raw))
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields are counted
// after its closing parenthesis.
func parseStat(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat line")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime in /proc stat line")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// cpuUse formats the CPU each role used between two samples over wall, largest first, and
// the share of the machine's CPU time (cores × wall) they took together.
func cpuUse(before, after cpuSample, wall time.Duration) string {
	if len(before) == 0 || len(after) == 0 || wall <= 0 {
		return "(unavailable)"
	}
	type use struct {
		role string
		d    time.Duration
	}
	var us []use
	var total time.Duration
	for role, a := range after {
		if bf, ok := before[role]; ok && a >= bf {
			us = append(us, use{role, a - bf})
			total += a - bf
		}
	}
	slices.SortFunc(us, func(x, y use) int {
		if x.d != y.d {
			return int(y.d - x.d)
		}
		return strings.Compare(x.role, y.role)
	})
	parts := make([]string, 0, len(us))
	for _, u := range us {
		parts = append(parts, fmt.Sprintf("%s %.1fs", u.role, u.d.Seconds()))
	}
	capacity := time.Duration(runtime.NumCPU()) * wall
	return fmt.Sprintf("%s (together %.0f%% of %d cores × %.1fs)", strings.Join(parts, ", "), 100*float64(total)/float64(capacity), runtime.NumCPU(), wall.Seconds())
}
