// Package ratelimit groups what the proxy's global rate limits need besides
// the proxy's own check (proxy/policy/globalratelimit), which asks a
// rate-limit service over the Envoy rate-limit protocol
// (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit).
//
// Subpackage ratelimittest runs the reference implementation of that
// service, github.com/envoyproxy/ratelimit built by
// hack/ratelimit-service.sh, on a private Redis for tests.
package ratelimit
