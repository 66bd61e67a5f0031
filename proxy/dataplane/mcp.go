package dataplane

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/policy/authz"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/mcp"
	"github.com/agentgateway/agentgateway-go/proxy/upstream"
)

// mcpGateways are the MCP gateways (package proxy/mcp) of the serving
// config's MCP backends, by the upstream.Backend the pool built for them:
// the pool keeps a backend whose config is unchanged, and so the gateway
// keeps its connections to the targets across reloads.
type mcpGateways struct {
	serving map[*upstream.Backend]*mcp.Gateway
}

// mcpStage is the gateways a config is built with.
type mcpStage struct {
	serving map[*upstream.Backend]*mcp.Gateway
	next    map[*upstream.Backend]*mcp.Gateway
	byName  map[string]*mcp.Gateway
}

func (s *mcpGateways) stage() *mcpStage {
	return &mcpStage{serving: s.serving, next: map[*upstream.Backend]*mcp.Gateway{}, byName: map[string]*mcp.Gateway{}}
}

// build takes over or creates the gateway of every MCP backend.
func (st *mcpStage) build(cs []config.Backend, backends map[string]*upstream.Backend, opts mcp.Options) error {
	for i := range cs {
		c := &cs[i]
		if c.MCP == nil {
			continue
		}
		b := backends[c.Name]
		g := st.serving[b]
		if g == nil {
			var err error
			if g, err = mcp.New(c.Name, c.MCP, opts); err != nil {
				return fmt.Errorf("backend %s: %w", c.Name, err)
			}
		}
		st.next[b] = g
		st.byName[c.Name] = g
	}
	return nil
}

// commit makes the staged gateways the serving ones and closes the
// others.
func (st *mcpStage) commit(s *mcpGateways) {
	for b, g := range st.serving {
		if st.next[b] != g {
			g.Close()
		}
	}
	s.serving = st.next
}

// discard closes the gateways the build created.
func (st *mcpStage) discard() {
	for b, g := range st.next {
		if st.serving[b] != g {
			g.Close()
		}
	}
}

func (s *mcpGateways) closeAll() {
	for _, g := range s.serving {
		g.Close()
	}
	s.serving = nil
}

// mcpOptions are the hooks of the runtime's MCP gateways: authorization by
// the mcpAuthorization rules of the rule that routed the request.
func (rt *Runtime) mcpOptions() mcp.Options {
	return mcp.Options{Logger: rt.log, Authorize: authorizeMCP}
}

// mcpRequest is what the rule hands its MCP gateway with a request: the
// rule's MCP authorization and the CEL activation its traffic policy
// filled (jwt, apiKey, extauthz), if any.
type mcpRequest struct {
	rules *authz.Rules
	act   *cel.Activation
}

type mcpRequestKey struct{}

// serveMCP hands the request to the ref's MCP gateway.
func (h *ruleHandler) serveMCP(w http.ResponseWriter, r *http.Request, ex *exchange, g *mcp.Gateway) {
	if h.traffic != nil && h.traffic.mcp != nil {
		act := ex.act
		if act == nil {
			act = &cel.Activation{Request: cel.RequestFromHTTP(r), Source: cel.SourceFromHTTP(r)}
		}
		r = r.WithContext(context.WithValue(r.Context(), mcpRequestKey{}, &mcpRequest{rules: h.traffic.mcp, act: act}))
	}
	g.ServeHTTP(w, r)
}

// authorizeMCP asks the rule's MCP authorization about one operation.
func authorizeMCP(r *http.Request, c *mcp.Call) bool {
	mr, _ := r.Context().Value(mcpRequestKey{}).(*mcpRequest)
	if mr == nil {
		return true
	}
	act := *mr.act
	act.MCP = &cel.MCP{Method: c.Method, Target: c.Target, Tool: cel.MCPTool{Name: c.Tool, Arguments: c.Arguments}}
	return mr.rules.Allowed(r.Context(), &act)
}
