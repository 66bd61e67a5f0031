// Package deployer turns a Gateway into the workload that serves it: a Deployment of
// proxies, the Service in front of them and their ServiceAccount, all owned by the Gateway
// so Kubernetes garbage-collects them with it.
//
// Render is pure (Gateway + AgentgatewayParameters + ports in, objects out) and covered by
// golden files (testdata/*.in.yaml -> *.out.yaml; go test -update rewrites them). Applier
// server-side applies the result as field manager "agentgateway", and skips objects whose
// desired-state hash annotation is unchanged, so a reconcile that changes nothing writes
// nothing.
//
// Parameters come from GatewayClass.spec.parametersRef (defaults for the class) and
// Gateway.spec.infrastructure.parametersRef; the Gateway's win field by field. Overlays
// (strategic-merge patches) are applied last, class first, so they can reach anything.
//
// Zero-downtime rollouts: surge before unavailable (maxSurge 1, maxUnavailable 0); a proxy
// is ready only once it applied a config (/ready on its admin port); on SIGTERM it fails
// readiness, keeps serving for its drain period, then drains open requests, all inside
// terminationGracePeriodSeconds.
package deployer
