package crds

import "testing"

// The global rate-limit schema: a rate limit needs local or global limits, and the global
// one a service, a domain and descriptors with entries.
func TestGlobalRateLimitSchema(t *testing.T) {
	checkSchemaCases(t, []schemaCase{
		{name: "ratelimit-global", resource: policies, spec: `
traffic:
  rateLimit:
    global:
      backendRef: {name: ratelimit, port: 8081}
      domain: agentgateway
      timeout: 250ms
      failureMode: Deny
      descriptors:
      - entries: [{key: tenant, value: 'request.headers["x-tenant"]'}, {key: generic_key, value: '"all"'}]
`},
		{name: "ratelimit-empty", resource: policies, spec: `
traffic: {rateLimit: {}}
`, wantErr: []string{"spec.traffic.rateLimit: Invalid value", "set local or global limits"}},
		{name: "ratelimit-global-bad", resource: policies, spec: `
traffic:
  rateLimit:
    global:
      backendRef: {name: ratelimit, port: 8081}
      domain: ""
      failureMode: Maybe
      descriptors: [{entries: []}]
`, wantErr: []string{"spec.traffic.rateLimit.global.domain: Invalid value",
			`spec.traffic.rateLimit.global.failureMode: Unsupported value: "Maybe"`, "spec.traffic.rateLimit.global.descriptors[0].entries: Invalid value"}},
		{name: "ratelimit-global-no-port", resource: policies, spec: `
traffic: {rateLimit: {global: {backendRef: {name: ratelimit}, domain: d, descriptors: [{entries: [{key: k, value: '"v"'}]}]}}}
`, wantErr: []string{"spec.traffic.rateLimit.global.backendRef: Invalid value", "Must have port for Service reference"}},
	}, false)
}
