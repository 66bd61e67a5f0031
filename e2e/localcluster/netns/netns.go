// Package netns builds the local cluster's network: one Linux bridge that holds the pod gateway
// address and the LoadBalancer pool, one network namespace per pod joined to the bridge by a
// veth pair, and the iptables rules that keep every cluster address on this machine.
//
// It drives iproute2 (`ip`) and `iptables` rather than netlink directly: both are on every
// Linux machine, their errors are readable, and what the cluster did can be replayed by hand.
//
// Safety: turning on net.ipv4.ip_forward (kube-proxy needs it for pod -> Service -> pod) would
// let the machine route for the pod ranges. The AGW-FORWARD chain, jumped to first in FORWARD,
// accepts bridge-to-bridge traffic and drops anything else that enters from or leaves through
// the bridge, and anything sourced from or destined to a cluster range. There is no
// MASQUERADE to outside interfaces, so nothing in these ranges reaches another machine.
package netns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// Config names the cluster network. All ranges are private and owned by the project.
type Config struct {
	Bridge      string     // e.g. agw0
	GatewayCIDR *net.IPNet // bridge address + prefix of the node's pod CIDR, e.g. 10.244.0.1/24
	LBCIDR      *net.IPNet // bridge address + prefix of the LoadBalancer pool, e.g. 10.245.0.1/24
	// GuardCIDRs are never forwarded anywhere but the bridge (pods, services, LB pool).
	GuardCIDRs []*net.IPNet
}

// Chain is the iptables filter chain that guards forwarding.
const Chain = "AGW-FORWARD"

// LBChain is the iptables filter chain, jumped to first from OUTPUT and FORWARD, that refuses
// packets still addressed to the LoadBalancer pool after kube-proxy's DNAT, that is to an
// address no Service routes (yet). Without it such a packet goes onto the bridge, where nothing
// answers ARP for a pool address: the connect fails with "no route to host" after the ARP
// probes, and its conntrack entry (SYN_SENT, without NAT) stays for
// nf_conntrack_tcp_timeout_syn_sent (120 s). A later connect that happens to reuse the source
// port matches that entry and skips the DNAT kube-proxy has written since, so it fails the
// same way. Refused here, the packet is dropped before conntrack confirms the entry: the
// connect fails at once with "connection refused" and leaves nothing behind.
const LBChain = "AGW-LB"

// NamePrefix starts the name of every network namespace and veth the cluster creates, so
// cleanup can find leftovers of a killed run.
const NamePrefix = "agw-"

// vethPrefix is kept short: interface names are limited to 15 bytes.
const vethPrefix = "agwv"

// HostState remembers what SetupHost changed, so TeardownHost restores exactly that.
type HostState struct {
	IPForwardWas string `json:"ipForwardWas,omitempty"`
}

// SetupHost creates the bridge (idempotently), turns on forwarding and installs the guard.
func SetupHost(c Config) (HostState, error) {
	var st HostState
	if _, err := exec.LookPath("iptables"); err != nil {
		return st, fmt.Errorf("iptables not found: install it (apt-get install -y iptables): %w", err)
	}
	if !linkExists(c.Bridge) {
		if err := ip("link", "add", c.Bridge, "type", "bridge"); err != nil {
			return st, err
		}
	}
	for _, a := range []*net.IPNet{c.GatewayCIDR, c.LBCIDR} {
		if a == nil {
			continue
		}
		if err := ip("addr", "replace", a.String(), "dev", c.Bridge); err != nil {
			return st, err
		}
	}
	if err := ip("link", "set", c.Bridge, "up"); err != nil {
		return st, err
	}
	if err := installGuard(c); err != nil {
		return st, err
	}
	if err := installLBReject(c); err != nil {
		return st, err
	}
	was, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return st, fmt.Errorf("read ip_forward: %w", err)
	}
	st.IPForwardWas = strings.TrimSpace(string(was))
	if st.IPForwardWas != "1" {
		// Only after the guard is in place.
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return st, fmt.Errorf("enable ip_forward: %w", err)
		}
	}
	return st, nil
}

func installGuard(c Config) error {
	// Recreate from scratch so a half-installed chain from a killed run cannot linger.
	removeGuard()
	if err := iptables("-N", Chain); err != nil {
		return err
	}
	b := c.Bridge
	rules := [][]string{
		{"-i", b, "-o", b, "-j", "ACCEPT"},
		{"-i", b, "-j", "DROP"},
		{"-o", b, "-j", "DROP"},
	}
	for _, n := range c.GuardCIDRs {
		rules = append(rules, []string{"-s", n.String(), "-j", "DROP"}, []string{"-d", n.String(), "-j", "DROP"})
	}
	for _, r := range rules {
		if err := iptables(append([]string{"-A", Chain}, r...)...); err != nil {
			return err
		}
	}
	return iptables("-I", "FORWARD", "1", "-j", Chain)
}

func removeGuard() {
	// -D removes one jump per call: repeat until none is left.
	for iptables("-D", "FORWARD", "-j", Chain) == nil { //nolint:revive // empty-block: the condition does the work
	}
	_ = iptables("-F", Chain) //nolint:errcheck // best-effort teardown: the chain may be gone already
	_ = iptables("-X", Chain) //nolint:errcheck // best-effort teardown: the chain may be gone already
}

func installLBReject(c Config) error {
	removeLBReject()
	if c.LBCIDR == nil {
		return nil
	}
	if err := iptables("-N", LBChain); err != nil {
		return err
	}
	pool := (&net.IPNet{IP: c.LBCIDR.IP.Mask(c.LBCIDR.Mask), Mask: c.LBCIDR.Mask}).String()
	rules := [][]string{
		// The bridge's own address in the pool's subnet is a local address, not a Service.
		{"-d", c.LBCIDR.IP.String() + "/32", "-j", "RETURN"},
		{"-d", pool, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
		{"-d", pool, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"},
	}
	for _, r := range rules {
		if err := iptables(append([]string{"-A", LBChain}, r...)...); err != nil {
			return err
		}
	}
	for _, hook := range []string{"OUTPUT", "FORWARD"} {
		if err := iptables("-I", hook, "1", "-j", LBChain); err != nil {
			return err
		}
	}
	return nil
}

func removeLBReject() {
	for _, hook := range []string{"OUTPUT", "FORWARD"} {
		// -D removes one jump per call: repeat until none is left.
		for iptables("-D", hook, "-j", LBChain) == nil { //nolint:revive // empty-block: the condition does the work
		}
	}
	_ = iptables("-F", LBChain) //nolint:errcheck // best-effort teardown: the chain may be gone already
	_ = iptables("-X", LBChain) //nolint:errcheck // best-effort teardown: the chain may be gone already
}

// TeardownHost removes what SetupHost added: the guard chain, the bridge, and forwarding if it
// was off before. Forwarding is switched back off before the guard goes away.
func TeardownHost(c Config, st HostState) error {
	var errs []error
	if st.IPForwardWas != "" && st.IPForwardWas != "1" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(st.IPForwardWas), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore ip_forward: %w", err))
		}
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		removeLBReject()
		removeGuard()
	}
	if linkExists(c.Bridge) {
		if err := ip("link", "del", c.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// GuardInstalled reports whether the AGW-FORWARD or the AGW-LB chain exists.
func GuardInstalled() bool {
	return iptables("-S", Chain) == nil || iptables("-S", LBChain) == nil
}

// PodNetwork is the network namespace of one pod.
type PodNetwork struct {
	Name string // netns name, under /run/netns
	Veth string // host side of the veth pair
	IP   net.IP
}

// Path is the netns file that setns(2) takes.
func (p PodNetwork) Path() string { return "/run/netns/" + p.Name }

// NamesFor derives stable, short netns and veth names from a pod UID.
func NamesFor(uid string) (netnsName, veth string) {
	h := sha256.Sum256([]byte(uid))
	x := hex.EncodeToString(h[:])
	return NamePrefix + x[:12], vethPrefix + x[:11]
}

// CreatePod creates the pod's namespace with eth0 at ip (prefix of the gateway CIDR) and a
// default route through the bridge address. Existing leftovers with the same names are replaced.
func CreatePod(c Config, uid string, podIP net.IP) (PodNetwork, error) {
	name, veth := NamesFor(uid)
	p := PodNetwork{Name: name, Veth: veth, IP: podIP}
	_ = DeletePod(p) //nolint:errcheck // leftovers of an earlier run, if any; usually there are none
	ones, _ := c.GatewayCIDR.Mask.Size()
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"link", "set", veth, "master", c.Bridge, "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", fmt.Sprintf("%s/%d", podIP, ones), "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "route", "add", "default", "via", c.GatewayCIDR.IP.String()},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			_ = DeletePod(p) //nolint:errcheck // the create error is the one to report
			return p, fmt.Errorf("create network of pod %s: %w", uid, err)
		}
	}
	return p, nil
}

// DeletePod removes the namespace (which destroys both veth ends) and a stray host veth.
func DeletePod(p PodNetwork) error {
	var errs []error
	if netnsExists(p.Name) {
		if err := ip("netns", "del", p.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Veth != "" {
		if err := delLink(p.Veth); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists network namespaces and links the cluster created that still exist.
func Leftovers(c Config) (namespaces, links []string) {
	// A list that cannot be read must not read as "nothing left": the failure is reported
	// as a leftover, so callers that check for none fail.
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		namespaces = append(namespaces, fmt.Sprintf("(ip netns list failed: %v)", err))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], NamePrefix) {
			namespaces = append(namespaces, f[0])
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		links = append(links, fmt.Sprintf("(ip link show failed: %v)", err))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n := strings.TrimSuffix(f[1], ":")
		if i := strings.IndexByte(n, '@'); i >= 0 {
			n = n[:i]
		}
		if n == c.Bridge || strings.HasPrefix(n, vethPrefix) {
			links = append(links, n)
		}
	}
	return namespaces, links
}

// CleanupAll deletes every namespace and link Leftovers finds.
func CleanupAll(c Config) error {
	nss, links := Leftovers(c)
	var errs []error
	for _, n := range nss {
		if err := ip("netns", "del", n); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		if l == c.Bridge {
			continue
		}
		if err := delLink(l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// delLink deletes a link unless it is already gone: the host end of a pod's veth pair vanishes
// on its own, asynchronously, once the pod's namespace is deleted.
func delLink(name string) error {
	if !linkExists(name) {
		return nil
	}
	err := ip("link", "del", name)
	if err != nil && (strings.Contains(err.Error(), "Cannot find device") || !linkExists(name)) {
		return nil
	}
	return err
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

func ip(args ...string) error { return run("ip", args...) }

func iptables(args ...string) error { return run("iptables", append([]string{"-w"}, args...)...) }

func run(bin string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
