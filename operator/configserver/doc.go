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
// Secret CASecretName of the operator's namespace and renews it in place
// (streamcert.Serving), so streams survive a renewal. Proxies trust the CA bundle the
// deployer renders in a ConfigMap beside their Deployment. CAKeeper keeps that Secret on
// every replica and rotates the CA without a restart: a year-long CA (--xds-ca-lifetime)
// gets a next CA when a third is left, which is published to every proxy ConfigMap at once
// and signs the replicas' certificates only once every ConfigMap holds it and
// --xds-ca-propagation (5 minutes) has passed; the replaced CA stays trusted until it
// expires. Deleting the Secret, or writing another CA
// into it, starts the same rotation. Open streams are not cut: TLS is checked at the
// handshake, proxies read the bundle at each dial, and the kubelet refreshes the mounted
// file in place (the Deployment does not change, so pods are not rolled).
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
