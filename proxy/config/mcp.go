package config

import (
	"encoding/base64"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MCPBackend makes a Backend an MCP gateway: one Model Context Protocol
// endpoint in front of several MCP servers (targets). The proxy is an MCP
// server towards clients and an MCP client towards each target; it merges
// the targets' tools, prompts and resources and routes every call to the
// target that owns it (package proxy/mcp). A Backend with MCP set has no
// Endpoints, TLS, Auth, RetryBudget or Resilience of its own.
type MCPBackend struct {
	// Targets are the MCP servers behind the gateway, in this order (the
	// order decides which target keeps an unprefixed name under
	// ToolPrefixNever). At least one; names are unique.
	Targets []MCPTarget `json:"targets"`
	// SessionRouting defaults to Stateful.
	SessionRouting MCPSessionRouting `json:"sessionRouting,omitempty"`
	// FailureMode defaults to FailClosed.
	FailureMode MCPFailureMode `json:"failureMode,omitempty"`
	// ToolPrefix defaults to OnConflict.
	ToolPrefix MCPToolPrefix `json:"toolPrefix,omitempty"`
	// SessionKey is the base64 (standard encoding) secret, at least 32
	// bytes, that seals the client-facing session ids of Stateful
	// sessions. Every replica of a Gateway must have the same key so that
	// any of them continues a session. Required for Stateful. Never shown
	// in /config_dump.
	SessionKey string `json:"sessionKey,omitempty"`
	// PageSize is the number of entries per page of merged tools/list,
	// prompts/list, resources/list and resources/templates/list answers;
	// 0 answers in one page.
	PageSize int `json:"pageSize,omitempty"`
}

// MCPTarget is one MCP server behind an MCPBackend.
type MCPTarget struct {
	// Name identifies the target in tool prefixes ("<name>_<tool>"), in
	// the mcp.target CEL variable, in logs and in status. Letters,
	// digits, '-' and '.'; at most 63 characters.
	Name string `json:"name"`
	// Address is the target's "host:port".
	Address string `json:"address"`
	// Path is the target's MCP endpoint path; defaults to "/mcp" for
	// StreamableHTTP and "/sse" for SSE.
	Path string `json:"path,omitempty"`
	// Transport defaults to StreamableHTTP.
	Transport MCPTransport `json:"transport,omitempty"`
}

// MCPTransport is how the gateway talks to a target.
type MCPTransport string

const (
	// MCPStreamableHTTP is the Streamable HTTP transport (MCP 2025-03-26
	// and later).
	MCPStreamableHTTP MCPTransport = "StreamableHTTP"
	// MCPSSE is the HTTP+SSE transport of MCP 2024-11-05, for older
	// servers.
	MCPSSE MCPTransport = "SSE"
)

// MCPSessionRouting says whether the gateway keeps MCP sessions.
type MCPSessionRouting string

const (
	// MCPStateful gives each client a session whose id seals the targets'
	// session ids (SessionKey), so any replica continues it.
	MCPStateful MCPSessionRouting = "Stateful"
	// MCPStateless keeps no session: the gateway issues no session id and
	// sends each request to the targets without one, so targets must
	// serve session-less requests. SSE targets need Stateful.
	MCPStateless MCPSessionRouting = "Stateless"
)

// MCPFailureMode says what the gateway does when a target is down.
type MCPFailureMode string

const (
	// MCPFailClosed fails initialize and list requests when any target
	// fails.
	MCPFailClosed MCPFailureMode = "FailClosed"
	// MCPFailOpen leaves a failing target out: initialize and lists
	// answer with the targets that work; calls to the failing target's
	// tools fail.
	MCPFailOpen MCPFailureMode = "FailOpen"
)

// MCPToolPrefix says when merged tool and prompt names get their target's
// name as a prefix ("<target>_<name>").
type MCPToolPrefix string

const (
	// MCPPrefixAlways prefixes every name.
	MCPPrefixAlways MCPToolPrefix = "Always"
	// MCPPrefixOnConflict prefixes only names that several targets have.
	MCPPrefixOnConflict MCPToolPrefix = "OnConflict"
	// MCPPrefixNever never prefixes: of names several targets have, the
	// first target's wins and the others are hidden.
	MCPPrefixNever MCPToolPrefix = "Never"
)

var mcpTargetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$`)

// MCPPath returns the target's endpoint path with its default.
func (t *MCPTarget) MCPPath() string {
	switch {
	case t.Path != "":
		return t.Path
	case t.Transport == MCPSSE:
		return "/sse"
	}
	return "/mcp"
}

// DecodeSessionKey returns the decoded SessionKey.
func (m *MCPBackend) DecodeSessionKey() ([]byte, error) {
	return base64.StdEncoding.DecodeString(m.SessionKey)
}

func (v *validator) mcpBackend(b *Backend) {
	m := b.MCP
	if m == nil {
		return
	}
	switch {
	case len(b.Endpoints) > 0:
		v.addf(".endpoints", "not allowed with mcp: each target has its own address")
	case b.Protocol != "" && b.Protocol != BackendHTTP1:
		v.addf(".protocol", "not allowed with mcp (targets are spoken to over HTTP/1.1)")
	case b.TLS != nil:
		v.addf(".tls", "not allowed with mcp: targets are reached over cleartext HTTP")
	case b.Auth != nil:
		v.addf(".auth", "not allowed with mcp")
	case b.RetryBudget != nil:
		v.addf(".retryBudget", "not allowed with mcp: MCP calls are not retried")
	case b.Resilience != nil:
		v.addf(".resilience", "not allowed with mcp")
	}
	n := v.in(".mcp", -1)
	defer v.out(n)
	if len(m.Targets) == 0 {
		v.addf(".targets", "at least one target is required")
	}
	for i := range m.Targets {
		t := &m.Targets[i]
		tn := v.in(".targets", i)
		if !mcpTargetName.MatchString(t.Name) {
			v.addf(".name", "must be 1-63 letters, digits, '-' or '.', starting with a letter or digit, got %q", t.Name)
		} else if slices.ContainsFunc(m.Targets[:i], func(o MCPTarget) bool { return o.Name == t.Name }) {
			v.addf(".name", "duplicate target name %q", t.Name)
		}
		host, port, err := net.SplitHostPort(t.Address)
		if err != nil || host == "" {
			v.addf(".address", "must be host:port, got %q", t.Address)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			v.addf(".address", "port must be 1-65535, got %q", port)
		}
		if t.Path != "" && (!strings.HasPrefix(t.Path, "/") || strings.ContainsAny(t.Path, "?# \t")) {
			v.addf(".path", "must start with / and hold no query, fragment or spaces, got %q", t.Path)
		}
		switch t.Transport {
		case "", MCPStreamableHTTP:
		case MCPSSE:
			if m.SessionRouting == MCPStateless {
				v.addf(".transport", "SSE targets need sessionRouting Stateful")
			}
		default:
			v.addf(".transport", "must be StreamableHTTP or SSE, got %q", t.Transport)
		}
		v.out(tn)
	}
	switch m.SessionRouting {
	case "", MCPStateful:
		key, err := m.DecodeSessionKey()
		switch {
		case m.SessionKey == "":
			v.addf(".sessionKey", "required for Stateful session routing")
		case err != nil:
			v.addf(".sessionKey", "must be standard base64: %v", err)
		case len(key) < 32:
			v.addf(".sessionKey", "must hold at least 32 bytes, got %d", len(key))
		}
	case MCPStateless:
		if m.SessionKey != "" {
			v.addf(".sessionKey", "only for Stateful session routing")
		}
	default:
		v.addf(".sessionRouting", "must be Stateful or Stateless, got %q", m.SessionRouting)
	}
	switch m.FailureMode {
	case "", MCPFailClosed, MCPFailOpen:
	default:
		v.addf(".failureMode", "must be FailClosed or FailOpen, got %q", m.FailureMode)
	}
	switch m.ToolPrefix {
	case "", MCPPrefixAlways, MCPPrefixOnConflict, MCPPrefixNever:
	default:
		v.addf(".toolPrefix", "must be Always, OnConflict or Never, got %q", m.ToolPrefix)
	}
	if m.PageSize < 0 || m.PageSize > 10000 {
		v.addf(".pageSize", "must be 0-10000, got %d", m.PageSize)
	}
}
