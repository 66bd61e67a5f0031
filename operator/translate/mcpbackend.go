package translate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// resolveMCPBackend builds the proxy backend of an AgentgatewayBackend with spec.mcp: an MCP
// gateway (config.MCPBackend) whose targets are static addresses or a ready endpoint of a
// Service port in the backend's namespace. Only HTTPRoutes may use it.
func (t *translator) resolveMCPBackend(be *agwv1a1.AgentgatewayBackend, mode backendMode) (string, *refError) {
	ns, name := be.Namespace, be.Name
	if mode != modeHTTP {
		return "", &refError{string(gwv1.RouteReasonUnsupportedProtocol), fmt.Sprintf("AgentgatewayBackend %s/%s is an MCP backend: only HTTPRoutes may use it", ns, name)}
	}
	cname := "agentgatewaybackend/" + ns + "/" + name
	if _, ok := t.backends[cname]; ok {
		return cname, nil
	}
	m := be.Spec.MCP
	out := &config.MCPBackend{
		SessionRouting: config.MCPSessionRouting(deref(m.SessionRouting, "")),
		FailureMode:    config.MCPFailureMode(deref(m.FailureMode, "")),
		ToolPrefix:     config.MCPToolPrefix(deref(m.ToolPrefix, "")),
	}
	if out.SessionRouting != config.MCPStateless {
		key, err := mcpSessionKey(t.s.SessionSecret, be)
		if err != nil {
			return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("AgentgatewayBackend %s/%s: %v", ns, name, err)}
		}
		out.SessionKey = key
	}
	for i := range m.Targets {
		tg := &m.Targets[i]
		addr, msg := t.mcpTargetAddress(ns, tg)
		if msg != "" {
			return "", &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("AgentgatewayBackend %s/%s: %s", ns, name, msg)}
		}
		out.Targets = append(out.Targets, config.MCPTarget{Name: tg.Name, Address: addr, Path: deref(tg.Path, ""), Transport: config.MCPTransport(deref(tg.Transport, ""))})
	}
	b := &backendIR{target: ObjectKey{Group: agwv1a1.GroupName, Kind: "AgentgatewayBackend", Namespace: ns, Name: name}, mode: mode}
	b.cfg.Name = cname
	b.cfg.MCP = out
	t.backends[cname] = b
	return cname, nil
}

// mcpTargetAddress is the host:port of a target, or why it has none.
func (t *translator) mcpTargetAddress(ns string, tg *agwv1a1.MCPTarget) (string, string) {
	if s := tg.Static; s != nil {
		return net.JoinHostPort(s.Host, strconv.Itoa(int(s.Port))), ""
	}
	if tg.Service == nil {
		return "", fmt.Sprintf("target %s sets neither static nor service", tg.Name)
	}
	ref := tg.Service
	svc := t.ix.services[nsName{ns, ref.Name}]
	if svc == nil {
		return "", fmt.Sprintf("target %s: Service %s/%s not found", tg.Name, ns, ref.Name)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == ref.Port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", fmt.Sprintf("target %s: Service %s/%s has no port %d", tg.Name, ns, ref.Name, ref.Port)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(sp.Port))), ""
	}
	for _, ep := range endpointsFor(t.ix.slices[nsName{ns, ref.Name}], sp) {
		if !ep.Terminating {
			return ep.Address, ""
		}
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		return net.JoinHostPort(ip, strconv.Itoa(int(sp.Port))), ""
	}
	return "", fmt.Sprintf("target %s: Service %s/%s has no ready endpoint", tg.Name, ns, ref.Name)
}

// mcpTargetProblems is why an MCP backend's targets cannot be resolved, for its status.
func (t *translator) mcpTargetProblems(be *agwv1a1.AgentgatewayBackend) string {
	if be.Spec.MCP == nil {
		return ""
	}
	var out []string
	for i := range be.Spec.MCP.Targets {
		if _, msg := t.mcpTargetAddress(be.Namespace, &be.Spec.MCP.Targets[i]); msg != "" {
			out = append(out, msg)
		}
	}
	return strings.Join(out, "; ")
}

// mcpSessionKey is the key that seals the backend's MCP session ids: an HMAC of the
// backend's identity under the operator's session secret, so it is the same on every
// operator replica and every proxy of a Gateway, cannot be computed by whoever can read the
// backend, and changes when the backend is recreated (which ends its sessions).
func mcpSessionKey(secret []byte, be *agwv1a1.AgentgatewayBackend) (string, error) {
	if len(secret) < minSessionSecret {
		return "", fmt.Errorf("stateful MCP sessions need the operator's session secret (%d bytes, need %d)", len(secret), minSessionSecret)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("agentgateway mcp session key\x00" + string(be.UID) + "\x00" + be.Namespace + "/" + be.Name))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// minSessionSecret is the shortest Snapshot.SessionSecret accepted.
const minSessionSecret = 32
