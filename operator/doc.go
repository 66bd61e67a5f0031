// Package operator is the agentgateway control plane. It turns Gateway API objects and the
// agentgateway.dev CRDs into one proxy configuration per Gateway, runs the proxies that
// serve it, and reports the truth back in status. Data flows one way:
//
//	Kubernetes objects (informer cache)
//	  └─ provider      one level-triggered reconcile under a single coalescing key: list every
//	     │             input into a translate.Snapshot (deep copies, serializable)
//	     └─ translate  PURE: Snapshot -> Result (per-Gateway proxy/config.Config + status of
//	        │          every input object). No client, no clock: golden-file tested.
//	        ├─ configserver  every replica: versioned per-Gateway snapshots streamed to the
//	        │                Gateway's proxies over proxy/configstream (gRPC, ACK/NACK,
//	        │                ServiceAccount-token auth via TokenReview); tracks what each
//	        │                proxy acked or rejected
//	        ├─ deployer      leader: per-Gateway Deployment, Service, ServiceAccount, rendered
//	        │                purely (golden-tested) and server-side applied only on change
//	        └─ status        leader, in its own loop off the reconcile path: conditions with
//	                         observedGeneration, written only when changed, many at once;
//	                         Gateway Programmed=True only after a proxy acked a config
//	                         reflecting the Gateway's generation (from configserver)
//
// app wires it together (Options -> Config -> Run) on one controller-runtime manager with
// leader election, health (/healthz, /readyz on :8081), metrics (:8080) and the config
// server (:9977); webhooks (:9443) and the aggregated API (:8443, apiserver) join through
// app.Hooks. cmd/operator is the thin main.
//
// Why one reconcile for everything: translation needs the whole graph (routes attach to
// listeners across namespaces, policies merge across levels), so per-object reconcilers would
// each need the full graph anyway. A single key lets the workqueue collapse any burst of
// events into one run, and a run is idempotent: the same state always yields the same
// writes, and every writer skips what is already right.
//
// Why configs are versioned by content hash: equal inputs give equal versions, so a
// republish is free, a reconnecting proxy that already runs the latest version is sent
// nothing, and status can tell exactly which version a proxy runs.
package operator
