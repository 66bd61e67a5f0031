// Package provider is the operator's control loop. It watches every input (Gateway API
// objects, Services, EndpointSlices, Secrets, ConfigMaps, Namespaces, our CRDs, and the
// Pods that EndpointSelector XBackends select: pods.go) and runs one level-triggered
// reconcile under a single key: every event only marks "something changed", the workqueue
// coalesces bursts into one run, and each run reads the whole cache into a
// translate.Snapshot, translates it, and hands the Result on:
//
//	snapshot (cache, read-only) -> translate.Translate -> configserver.Publish  (every replica)
//	                                                   -> deployer.Render/Apply  (leader)
//	                                                   -> status loop            (leader)
//
// Every replica translates and publishes, so proxies may connect to any of them; only the
// leader writes workloads and status. A run never branches on what changed: the same state
// always gives the same writes, and writers skip objects that are already right.
//
// Status is written by its own loop (statusLoop), not by the reconcile: writes are one
// apiserver round trip per changed object, and a reconcile that waited for them held every
// later change back from the proxies. The loop always writes the newest result it was
// offered, so a burst costs one pass. A proxy's ACK only changes Programmed, which status
// decides when it writes, so it re-runs the loop over the Gateways instead of triggering a
// translation; a Gateway write the writer held back (attachedRoutes alone, too soon after
// the previous one) re-runs it over the Gateways when due; and updates that only change the
// status of Gateway API objects or our CRDs (our own writes, mostly) do not trigger a
// reconcile at all (specChanged).
//
// Reconciles are paced (pacer): during a burst of changes (more than one change waiting)
// a replica spends at most a sixth of the wall time reconciling, so that the apiserver
// keeps the CPU it needs to accept the burst; the changes of a wait are batched into the
// next run. A lone change runs at once on a replica whose proxies took the previous change;
// a replica whose last reconcile changed no config its proxies run paces lone changes too
// (the leader at a sixth, a follower at a tenth: pacing), so that a stream of changes for
// proxies of the other replica costs it one translation per wait instead of one each.
//
// Kinds whose CRD is not installed (experimental Gateway API kinds on a standard-channel
// cluster, or our own CRDs) are logged and skipped at start; installing one later needs an
// operator restart.
package provider
