// Package deployer turns a Gateway into the workload that serves it: a Deployment of
// proxies, the Service in front of them, their ServiceAccount, a ConfigMap with the CA that
// the config server's certificate chains to (XDSCAName, mounted into the proxies, which
// verify the stream's TLS against it: --xds-ca-file), and as the parameters say a
// PodDisruptionBudget and a HorizontalPodAutoscaler, all owned by the Gateway so Kubernetes
// garbage-collects them with it.
//
// Render is pure (Gateway + AgentgatewayParameters + ports in, objects out) and covered by
// golden files (testdata/*.in.yaml -> *.out.yaml; go test -update rewrites them). Applier
// server-side applies the result as field manager "agentgateway", and skips objects whose
// desired-state hash annotation is unchanged, so a reconcile that changes nothing writes
// nothing.
//
// The Service is a LoadBalancer, or of the parameters' service.type, except for a Gateway
// whose spec.addresses all ask for routability Cluster (GEP-5093) or for one the operator
// does not support (ClusterOnly): its Service is ClusterIP, reachable from inside the cluster
// only. Static IPs of the default routability (StaticIPs) go to the load balancer or become
// external IPs.
//
// Parameters come from GatewayClass.spec.parametersRef (defaults for the class) and
// Gateway.spec.infrastructure.parametersRef; the Gateway's win field by field. Overlays
// (strategic-merge patches) are applied last, class first, so they can reach anything.
//
// Proxy pods are hardened whatever the parameters say: user and group 65532 (the images'
// nonroot USER, also fsGroup), runAsNonRoot, a read-only root filesystem (the proxy writes no
// files, so there is no writable volume), no privilege escalation, all capabilities dropped,
// seccomp RuntimeDefault; they pass the "restricted" Pod Security Standard. Listeners on
// ports below 1024 work through the pod sysctl net.ipv4.ip_unprivileged_port_start=0, set on
// every pod: it is a safe sysctl (namespaced to the pod's network namespace, allowed by the
// kubelet and by Pod Security "restricted" without configuration), and setting it whatever the
// ports keeps the pod template, and so the rollouts, independent of port numbers. Adding
// NET_BIND_SERVICE instead would not work: for a non-root process Kubernetes puts added
// capabilities in the bounding and permitted sets but not the effective one, which only
// ambient capabilities reach, and a container spec cannot ask for those.
//
// Probes hit the health port (HealthPort 15021, container port "health", on the pod IP):
// startup and liveness on /healthz, readiness on /ready. Metrics are served on MetricsPort
// 15020 (container port "metrics"). The admin server (/config_dump, /debug/pprof) listens on
// the proxy's default loopback address only and is not a container port. Without parameters the container requests 100m CPU and 128Mi
// and has no limits. Pods spread over zones and nodes (maxSkew 1, ScheduleAnyway, so a
// single-node cluster still schedules them).
//
// A PodDisruptionBudget (unhealthyPodEvictionPolicy AlwaysAllow) is made from the
// parameters' podDisruptionBudget, or by default with maxUnavailable 1 when the Deployment
// can run more than one replica (see PDBSettings). With horizontalPodAutoscaler set, an
// autoscaling/v2 HorizontalPodAutoscaler scales on the proxy container's CPU utilization and
// the applied Deployment leaves replicas out; before each such apply, Applier makes
// ReplicasFieldManager co-own the live count, because server-side apply would otherwise
// remove the field and the Deployment would drop to 1 replica. Apply deletes the budget and
// the autoscaler once the rendering no longer has them.
//
// Zero-downtime rollouts: surge before unavailable (maxSurge 1, maxUnavailable 0); a proxy
// is ready only once it applied a config (/ready on its health port); on SIGTERM it fails
// readiness, keeps serving for its drain period, then drains open requests, all inside
// terminationGracePeriodSeconds.
package deployer
