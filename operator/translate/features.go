package translate

import (
	"sort"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// supportedFeatures are the Gateway API v1.7.0 features this translator (and the proxy
// config contract) implement; GatewayClass status.supportedFeatures lists them, and the
// conformance suite runs exactly these. Add a feature here only with its golden case.
//
// GatewayAddressEmpty, GatewayStaticAddresses and GatewayInfrastructure are delivered by the
// deployer (an address without a value gets one from the load balancer);
// GatewayAddressRoutability and GatewayAddressRoutabilityCluster by the deployer (a Gateway
// asking only for Cluster addresses gets a ClusterIP Service) and the status writer
// (status.addresses[].routability and AddressesAssigned, operator/status assignAddresses);
// GatewayHTTPSListenerDetectMisdirectedRequests by the proxy (421 when the request's Host
// selects another listener than the connection's SNI); GatewayRouteHostnameIntersectionPrecedence
// by the proxy's HTTP router (router.Build) for HTTP and gRPC routes and by sniOwners for
// TLSRoutes; GatewayListenerFilters by listenerfilters.go and the proxy's pre-routing
// filters (ExternalAuth only: ExtensionRef listener filters are refused); ClusterTrustBundle
// (caCertificateRefs naming certificates.k8s.io/v1 bundles) by trustBundleCAs, with the
// provider watching the bundles.
var supportedFeatures = []features.FeatureName{
	features.SupportGateway,
	features.SupportGatewayPort8080,
	features.SupportGatewayHTTPListenerIsolation,
	features.SupportGatewayInfrastructure,
	features.SupportGatewayStaticAddresses,
	features.SupportGatewayAddressEmpty,
	features.SupportGatewayAddressRoutability,
	features.SupportGatewayAddressRoutabilityCluster,
	features.SupportGatewayHTTPSListenerDetectMisdirectedRequests,
	features.SupportGatewayBackendClientCertificate,
	features.SupportGatewayRouteHostnameIntersectionPrecedence,
	features.SupportGatewayListenerFilters,
	features.SupportGatewayFrontendClientCertificateValidation,
	features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
	features.SupportClusterTrustBundle,
	features.SupportListenerSet,
	features.SupportReferenceGrant,
	features.SupportHTTPRoute,
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRouteBackendRequestHeaderModification,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRouteBackendURLRewrite,
	features.SupportHTTPRouteRequestMirror,
	features.SupportHTTPRouteRequestMultipleMirrors,
	features.SupportHTTPRouteRequestPercentageMirror,
	features.SupportHTTPRouteRequestTimeout,
	features.SupportHTTPRouteBackendTimeout,
	features.SupportHTTPRouteParentRefPort,
	features.SupportHTTPRouteDestinationPortMatching,
	features.SupportHTTPRouteBackendProtocolH2C,
	features.SupportHTTPRouteBackendProtocolWebSocket,
	features.SupportHTTPRouteNamedRouteRule,
	features.SupportHTTPRouteCORS,
	features.SupportHTTPRoute303RedirectStatusCode,
	features.SupportHTTPRoute307RedirectStatusCode,
	features.SupportHTTPRoute308RedirectStatusCode,
	features.SupportHTTPRouteRetryCodes,
	features.SupportHTTPRouteRetryConnectionError,
	features.SupportGRPCRoute,
	features.SupportGRPCRouteNamedRouteRule,
	features.SupportGRPCRouteRequestHeaderModifier,
	features.SupportTLSRoute,
	features.SupportTLSRouteModeTerminate,
	features.SupportTLSRouteModeMixed,
	features.SupportTCPRoute,
	features.SupportUDPRoute,
	features.SupportBackendTLSPolicy,
	features.SupportBackendTLSPolicySANValidation,
}

func supportedFeatureList() []gwv1.SupportedFeature {
	out := make([]gwv1.SupportedFeature, 0, len(supportedFeatures))
	for _, f := range supportedFeatures {
		out = append(out, gwv1.SupportedFeature{Name: gwv1.FeatureName(f)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
