// Package filters implements the Gateway API HTTPRoute filters as small,
// precompiled values: header modifiers, redirects, URL rewrites, CORS,
// direct responses and request mirroring. Each is built once per config
// from its config type and applied per request without allocation where
// possible; the runtime decides the order (request filters before
// proxying, response filters on the way back).
package filters
