// Package authz is the authorization policy (config.Authorization): CEL
// conditions over the request, its source and what authentication and ext
// auth found (jwt, apiKey, extauthz), checked in the Authorization phase of
// proxy/cel.
package authz

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// Rules is a compiled config.Authorization: CEL conditions and what a
// match means (allow, deny, require).
type Rules struct {
	action config.AuthorizationAction
	rules  []*cel.Program
}

// New compiles a; nil when it has no rules.
func New(a *config.Authorization) (*Rules, error) { return compile(a, cel.PhaseAuthorization) }

// NewMCP compiles the MCP authorization of a rule (phase MCPAuthorization,
// config.TrafficPolicy.MCPAuthorization); nil when it has no rules. Its
// rules are asked through Allowed, per MCP operation.
func NewMCP(a *config.Authorization) (*Rules, error) { return compile(a, cel.PhaseMCPAuthorization) }

// Allowed reports whether the rules allow the activation.
func (az *Rules) Allowed(ctx context.Context, act *cel.Activation) bool {
	return az.allowed(ctx, act)
}

func compile(a *config.Authorization, phase cel.Phase) (*Rules, error) {
	az := &Rules{action: a.Action}
	for i, expr := range a.Rules {
		p, err := cel.Compile(phase, cel.KindCondition, expr)
		if err != nil {
			return nil, fmt.Errorf("Rules rule %d: %w", i, err)
		}
		az.rules = append(az.rules, p)
	}
	if len(az.rules) == 0 {
		return nil, nil
	}
	return az, nil
}

// Phase is authorization.
func (*Rules) Phase() policy.Phase { return policy.PhaseAuthorization }

// Request rejects (403) a request the rules do not authorize.
func (az *Rules) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	if !az.authorized(r, act) {
		policy.Error(w, r, http.StatusForbidden, "forbidden by Rules policy")
		return false
	}
	return true
}

// authorized applies the action. Evaluation errors fail closed: an Allow
// or Require rule that errors does not match, a Deny rule that errors
// matches.
func (az *Rules) authorized(r *http.Request, act *cel.Activation) bool {
	return az.allowed(r.Context(), act)
}

func (az *Rules) allowed(ctx context.Context, act *cel.Activation) bool {
	switch az.action {
	case config.AuthorizationAllow:
		for _, p := range az.rules {
			if ok, err := p.EvalBool(ctx, act); err == nil && ok {
				return true
			}
		}
		return false
	case config.AuthorizationDeny:
		for _, p := range az.rules {
			if ok, err := p.EvalBool(ctx, act); err != nil || ok {
				return false
			}
		}
		return true
	default: // Require
		for _, p := range az.rules {
			if ok, err := p.EvalBool(ctx, act); err != nil || !ok {
				return false
			}
		}
		return true
	}
}
