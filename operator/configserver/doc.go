// Package configserver is the operator's side of proxy/configstream: it holds the latest
// proxy config of every Gateway, streams it to that Gateway's proxies, and remembers what
// each proxy acknowledged or rejected.
//
// The provider publishes after every translation (Publish); identical content hashes to the
// same version, so republishing is free and proxies see only real changes. Per-proxy state
// (connected since, last heartbeat, acked and rejected versions with the error, build)
// feeds the aggregated API's proxystatuses (Proxies) and Gateway status: a Gateway is
// Programmed only once one of its proxies acknowledged a version published at or after the
// Gateway's current generation (Programmed).
//
// The stream is served over TLS only (Server.Certificate is required): every replica issues
// itself a short-lived certificate for the config server's Service name from the CA in the
// Secret CASecretName of the operator's namespace (LoadOrCreateCA creates it on first start)
// and renews it in place (streamcert.Serving), so streams survive a renewal. Proxies trust
// that CA only, through the ConfigMap the deployer renders beside their Deployment. The CA
// is valid for ten years and read at start; to replace it, delete the Secret and restart
// the operator's replicas: the first one creates a new CA, the deployer rewrites every
// ConfigMap, and each proxy uses the new CA on its next connection once the kubelet has
// refreshed the mounted file (it keeps serving its config meanwhile).
//
// Proxies authenticate with a projected ServiceAccount token that TokenReviewer checks
// through the TokenReview API: the token must belong to the ServiceAccount the deployer
// made for the Gateway the proxy asks for, in the same namespace, so a proxy can read only
// its own Gateway's config.
//
// Every replica serves the stream, so a proxy's acknowledgement is known only to the replica
// it is connected to, while status is written by the leader. RemoteProxies lets the leader
// count the proxies connected to other replicas too: the operator sets it from the proxy
// states the replicas exchange through the aggregated API (operator/app, apiserver.PeerSyncer),
// so a Gateway whose proxies all connect to a follower is still reported Programmed.
package configserver
