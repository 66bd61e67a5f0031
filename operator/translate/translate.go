package translate

import (
	"sort"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Translate turns a Snapshot into the proxy configuration of each of our Gateways and the
// status of every input object we own. It is pure: same Snapshot, same Result (deeply equal,
// same ordering, same config versions). It never mutates the Snapshot.
//
// It reads like a table of contents; each step's comment says why it sits where it does.
func Translate(s *Snapshot) *Result {
	return translate(s, nil)
}

// translate is Translate; with prev (TranslateReusing), it fingerprints routes, reuses
// what prev holds for them and records in the Result what the next translation may reuse.
func translate(s *Snapshot, prev *previous) *Result {
	t := newTranslator(s)
	if prev != nil {
		t.epoch, t.prev = inputsEpoch(s), *prev
		t.res.checked = map[configdelta.Fingerprint]string{}
		t.res.assembled = map[assembledKey]*assembledRoute{}
		t.res.built = map[types.UID]*builtHTTPRoute{}
	}

	// Classes first: a Gateway is ours only if its class is ours and accepted.
	t.translateGatewayClasses()
	// Gateways of our classes; everything downstream hangs off them.
	t.translateGateways()
	// ListenerSets extend a Gateway's listeners, so they must be known before listeners are
	// validated as one merged set.
	t.translateListenerSets()
	// Listeners: protocol/port/hostname validation and conflicts over the merged set, in the
	// spec's precedence order (Gateway, then ListenerSets oldest first).
	t.validateListeners()
	// Certificates: only listeners that survived validation need their Secrets resolved.
	t.resolveCertificates()
	// Listener filters (GEP-5224): their ExternalAuth backendRefs, before routes attach (a
	// listener whose filters cannot be used takes no routes).
	t.resolveListenerFilters()
	// Routes attach to valid listeners only; attachment needs allowedRoutes and hostnames.
	t.attachRoutes()
	// HTTPRoutes and GRPCRoutes may not share a hostname on one listener; the older wins.
	t.resolveHTTPGRPCConflicts()
	// Backends are resolved per attached route rule, so unattached routes cost nothing.
	t.buildRoutes()
	// Our policies attach once listeners and routes are final; attached ones are validated
	// again (CEL) and their Secrets and ext-auth backendRefs resolved, adding backends.
	t.attachPolicies()
	// XTelemetryPolicies resolve their collectors, so that a BackendTLSPolicy secures them
	// too; they apply per listener in mergeFrontend, where an AgentgatewayPolicy's
	// frontend.tracing wins.
	t.resolveTelemetryPolicies()
	// BackendTLSPolicy decorates the backends the routes and ext-auth policies resolved.
	t.applyBackendTLSPolicies()
	// XBackendTrafficPolicy sets retry budgets on the same backends.
	t.applyBackendTrafficPolicies()
	// Policies merge per field over Gateway < listener < route < rule; backend settings
	// override what BackendTLSPolicy set, so they come after it.
	t.mergePolicies()
	// A route's ExternalAuth service may have gained TLS above that the proxy cannot speak
	// (gRPC); its rules fail closed before they are assembled.
	t.checkExternalAuthFilters()
	// The same for listeners' ExternalAuth filters.
	t.checkListenerFilters()
	// Assemble binds, backends, version and views per Gateway; then statuses of everything.
	t.assemble()
	t.reportStatus()
	return t.res
}

type translator struct {
	s   *Snapshot
	ix  *index
	res *Result

	classes  map[string]*classIR
	gateways []*gatewayIR // sorted by namespace/name
	gwByKey  map[nsName]*gatewayIR
	sets     []*listenerSetIR // every ListenerSet whose parent is ours, sorted by namespace/name
	setByKey map[nsName]*listenerSetIR
	routes   []*routeIR // sorted by kind, namespace, name

	backends map[string]*backendIR // resolved backends by config name, shared by Gateways
	policies *policyState
	btls     []*btlsIR
	xbtp     []*xbtpIR               // XBackendTrafficPolicies, oldest first
	usedBy   map[string][]*gatewayIR // backend name -> Gateways whose config uses it

	// telemetry are the XTelemetryPolicies targeting our Gateways, oldest first;
	// telemetryWinner the one that applies, by Gateway (tracing.go).
	telemetry       []*telemetryIR
	telemetryWinner map[nsName]*telemetryIR

	allGateways map[nsName]bool    // every Gateway of any class, built on demand
	allRoutes   map[ObjectKey]bool // every HTTPRoute and GRPCRoute, built on demand

	check           *routeCheck            // scratch config of checkBuiltRoute
	serviceBackends map[servicePort]string // config backend names of Service ports

	// epoch is the fingerprint of the inputs that are not routes (inputsEpoch) and prev
	// what the previous translation left to reuse (TranslateReusing); both empty in
	// Translate.
	epoch string
	prev  previous
}

func newTranslator(s *Snapshot) *translator {
	return &translator{
		s:        s,
		ix:       buildIndex(s),
		res:      &Result{},
		classes:  map[string]*classIR{},
		gwByKey:  map[nsName]*gatewayIR{},
		setByKey: map[nsName]*listenerSetIR{},
		backends: map[string]*backendIR{},
	}
}

type classIR struct {
	gc       *gwv1.GatewayClass
	accepted bool
	conds    *conds
	params   string // namespace/name of AgentgatewayParameters, if any
}

type gatewayIR struct {
	gw    *gwv1.Gateway
	key   nsName
	class *classIR
	conds *conds
	// listeners in precedence order: the Gateway's own (spec order), then those of attached
	// ListenerSets (oldest first, then namespace/name).
	listeners []*listenerIR
	// sets are the ListenerSets that name this Gateway as parent, in precedence order.
	sets []*listenerSetIR

	config    *config.Config
	encoded   *configdelta.Encoded
	effective *viewsv1a1.EffectiveConfig
	ports     []Port

	// backendClientCert is spec.tls.backend.clientCertificateRef, presented to TLS backends
	// that have no client certificate of their own.
	backendClientCert *config.Certificate
}

type listenerSetIR struct {
	ls        *gwv1.ListenerSet
	key       nsName
	gw        *gatewayIR
	conds     *conds
	allowed   bool // selected by the Gateway's allowedListeners
	listeners []*listenerIR
}

// listenerIR is one listener of the merged set, from a Gateway or a ListenerSet.
type listenerIR struct {
	gw       *gatewayIR
	set      *listenerSetIR // nil for the Gateway's own listeners
	name     gwv1.SectionName
	port     int32
	protocol gwv1.ProtocolType
	hostname string
	tls      *gwv1.ListenerTLSConfig
	allowed  *gwv1.AllowedRoutes
	ownerNs  string // namespace of the Gateway or ListenerSet: "Same" means this one
	kinds    []gwv1.RouteGroupKind
	conds    *conds // Accepted, Conflicted, Programmed, ResolvedRefs

	certs     []config.Certificate
	certNames []string
	attached  int32
	routes    []*attachment // routes attached, sorted by route precedence

	frontend         *frontendSettings
	clientValidation *config.ClientValidation

	filters    *gwv1.ListenerFilters   // spec filters (GEP-5224)
	preRouting []config.ListenerFilter // built from filters (listenerfilters.go)
}

// configName is the listener's name in the proxy config: unique per Gateway, so ListenerSet
// listeners carry their set's namespace/name.
func (l *listenerIR) configName() string {
	if l.set == nil {
		return string(l.name)
	}
	return l.set.key.ns + "/" + l.set.key.name + "/" + string(l.name)
}

// usable says whether routes may attach and the proxy should serve the listener.
func (l *listenerIR) usable() bool { return !l.conds.isFalse(string(gwv1.ListenerConditionAccepted)) }

func (t *translator) addGatewayClassResult(r GatewayClassResult) {
	t.res.GatewayClasses = append(t.res.GatewayClasses, r)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
