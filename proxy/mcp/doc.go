// Package mcp is the MCP gateway of an MCP backend (config.MCPBackend): one
// Model Context Protocol endpoint in front of several MCP servers.
//
// Towards clients the Gateway is an MCP server on the Streamable HTTP
// transport; towards each target it is an MCP client on Streamable HTTP or,
// for older servers, the HTTP+SSE transport. It speaks JSON-RPC itself
// rather than through an SDK's server and client sessions: a multiplexing
// gateway has to own the session ids (the client's id seals the targets'
// ids, so any replica continues a session without a shared store), rewrite
// the ids of server-to-client requests so that answers find their target,
// and pass streamed answers through event by event, none of which an SDK
// session exposes.
//
// # Protocol
//
//   - initialize goes to every target with the client's capabilities; the
//     answer merges the targets' capabilities and negotiates the client's
//     version among 2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05. The
//     stateless 2026-07-28 revision's server/discover is answered "method
//     not found", which makes clients of that revision fall back to
//     initialize.
//   - tools/list, prompts/list, resources/list and resources/templates/list
//     merge every target's full list (following the targets' cursors) and
//     page it with the gateway's own cursor (config PageSize). Tool and
//     prompt names get a "<target>_" prefix as config.MCPToolPrefix says.
//   - tools/call, prompts/get, resources/read, resources/subscribe,
//     completion/complete go to the owning target; the answer, JSON or an
//     event stream, is passed through as it arrives.
//   - Server-to-client requests (sampling, elicitation, roots) get an id
//     naming their target; the client's answer goes back to that target
//     with the original id. Notifications (progress, logging, list changes)
//     are relayed on the stream they came on; notifications from the client
//     (initialized, cancelled, roots changes) go to every target.
//   - A GET opens one event stream merging the targets' standalone streams.
//   - DELETE ends the targets' sessions.
//
// # Authorization
//
// Options.Authorize, when set, decides every tools/call, prompts/get and
// resources/read, and filters tools/list and prompts/list: an entry the
// caller may not call is not listed.
package mcp
