// Package apiserver is the operator's aggregated API server for views.agentgateway.dev/v1alpha1:
// `kubectl get effectiveconfig` (what each Gateway's proxies run, with every policy merged) and
// `kubectl get proxystatus` (each proxy pod, whether it holds a config stream or since when
// it has not, and the config it acknowledged or rejected).
//
// # Shape
//
// It follows metrics-server: a storage-less k8s.io/apiserver GenericAPIServer with one small
// REST type per resource over an in-memory store, and nothing else.
//
//	operator pipeline ──Views.Publish*──▶ viewstore.Store ──▶ registry/<resource>.REST ──▶ kube-aggregator ──▶ kubectl
//
// Its parts:
//   - effectiveconfigs/<gateway>/explain (registry/effectiveconfig ExplainREST, a GET-only
//     connect subresource): what that Gateway's proxies do with a request described in the
//     query (package proxy/explain), computed from the proxy config of the last translation
//     (Views.PublishConfigs), without checking any credential and without secrets in the
//     answer.
//   - Views: the two stores and what the operator calls. PublishEffectiveConfigs after every
//     translation (package publish converts translate.Result), PublishProxyStatuses when the
//     config server's proxies change (package publish converts configserver.ProxyState). Both
//     take the whole current set. Views fills EffectiveConfig.Proxies (synced/total) from the
//     ProxyStatuses of all replicas and scrubs rejection texts (see Secrets).
//   - viewstore: a versioned store per resource. Publishers are level-triggered: they hand over
//     the whole current set of their partition; the store diffs, bumps a resourceVersion only for
//     real changes, keeps a bounded event history (1024 events, and for EffectiveConfigs at
//     most 32Ki listeners and routes in all, so a large Gateway does not keep a copy of itself
//     per change), and feeds watchers. Views are read-only and never feed back into the
//     pipeline.
//   - registry: get, list (label selectors; field selectors metadata.name, metadata.namespace and
//     per-resource fields), watch, table conversion, short names (agec, agps) and the
//     `agentgateway` category, shared by registry/effectiveconfig and registry/proxystatus. Each
//     REST type carries `var _ rest.X = &REST{}` guards for every interface it must satisfy
//     (SingularNameProvider and TableConvertor are hard requirements of the apiserver library).
//   - Server: secure serving with a certificate from files (cert-controller in a cluster) or a
//     generated self-signed one; delegated authentication (TokenReview, and the front-proxy
//     requestheader CA from kube-system/extension-apiserver-authentication) and delegated
//     authorization (SubjectAccessReview), so RBAC applies per namespace exactly as for built-in
//     resources; OpenAPI v2 and v3 from generated/openapi (the aggregator needs both); API
//     priority and fairness off (it needs a core client and has nothing to protect here).
//
// # Watch semantics
//
// resourceVersions are `epoch<<40 | counter`, with a random epoch per store. A watch from a
// resourceVersion replays the history after it; one that is older than the history, newer than
// the store, or from another epoch (another replica, or before a restart) gets 410 Gone and the
// client lists again. client-go informers use WatchList (sendInitialEvents=true): the current
// state is sent as ADDED events followed by a bookmark annotated k8s.io/initial-events-end, without
// which WaitForCacheSync never returns. A watch with a selector turns objects that enter or leave
// the selection into ADDED and DELETED. Slow watchers are closed rather than buffered without
// bound; they resume from their last resourceVersion.
//
// # Several replicas
//
// The aggregator sends each request to any operator replica, so every replica must give the same
// answer:
//   - EffectiveConfigs are computed by every replica from the same informer cache by the same pure
//     translation, so they agree (up to informer lag) without coordination.
//   - ProxyStatuses are known only to the replica a proxy is connected to. Each replica publishes
//     its own proxies under its own partition (its pod name), serves that partition to its peers
//     at PeerPath on this server's secure port (behind the same delegated authn/authz), and a
//     PeerSyncer imports the peers' partitions, found through the EndpointSlices of the API
//     Service; the union is the same everywhere, one poll interval late. A replica that goes
//     away takes its partition with it; its proxies reconnect elsewhere and reappear there.
//     Running proxy pods that hold a stream to no replica for longer than the grace period
//     (configserver.Disconnects) are published by every replica in its partition, with
//     Connected false and DisconnectedSince (publish.WithDisconnected); a replica leaves out
//     its ended stream of a proxy that a peer reports connected.
//     EffectiveConfig's PROXIES column is computed from that union, so it agrees too.
//   - resourceVersions differ per replica by design (the epoch): a watch that lands on another
//     replica than its list gets 410 and relists there, which informers handle.
//
// # Secrets
//
// Views never carry secret material, whoever asks: EffectiveConfig names certificate Secrets but
// never holds keys, tokens, passwords or hashes (the translator builds it that way; the "no
// secret material" subtest of TestAggregatedAPI plants marker values in TLS, API-key, htpasswd
// and backend-token Secrets, translates, and searches JSON, YAML, table and wide output). A
// proxy's rejection text is the one field from outside the translator; PublishProxyStatuses
// strips PEM private keys and Bearer/Basic credentials from it and bounds its length.
package apiserver
