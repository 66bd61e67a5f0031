// Package provider is the operator's control loop. It watches every input (Gateway API
// objects, Services, EndpointSlices, Secrets, ConfigMaps, Namespaces and our CRDs) and runs
// one level-triggered reconcile under a single key: every event only marks "something
// changed", the workqueue coalesces bursts into one run, and each run reads the whole cache
// into a translate.Snapshot, translates it, and hands the Result on:
//
//	snapshot (cache, deep copies) -> translate.Translate -> configserver.Publish  (every replica)
//	                                                     -> deployer.Render/Apply  (leader)
//	                                                     -> status.Writer.Write    (leader)
//
// Every replica translates and publishes, so proxies may connect to any of them; only the
// leader writes workloads and status. A run never branches on what changed: the same state
// always gives the same writes, and writers skip objects that are already right.
//
// Kinds whose CRD is not installed (experimental Gateway API kinds on a standard-channel
// cluster, or our own CRDs) are logged and skipped at start; installing one later needs an
// operator restart.
package provider
