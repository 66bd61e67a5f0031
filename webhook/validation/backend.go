package validation

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// ValidateBackend checks what the CRD schema cannot: a static backend must not point at an
// unspecified address, and pointing at loopback or link-local addresses (the proxy itself,
// cloud metadata services) is almost always a mistake, so it is a warning. appProtocol tcp
// gets a warning too, saying what it means: only TCPRoutes and TLSRoutes may use the backend,
// and HTTPRoutes and GRPCRoutes that reference it get ResolvedRefs=False.
func ValidateBackend(b *v1alpha1.AgentgatewayBackend) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	if s := b.Spec.Static; s != nil {
		path := field.NewPath("spec", "static", "host")
		if addr, err := netip.ParseAddr(s.Host); err == nil {
			switch {
			case addr.IsUnspecified():
				errs = append(errs, field.Invalid(path, s.Host, "an unspecified address cannot be dialed: use the backend's real address"))
			case addr.IsLoopback():
				warnings = append(warnings, path.String()+": loopback address: the proxy will connect to itself, not to a backend")
			case addr.IsLinkLocalUnicast():
				warnings = append(warnings, path.String()+": link-local address (for example a cloud metadata service): make sure the proxy should reach it")
			}
		}
		if s.AppProtocol != nil && *s.AppProtocol == "tcp" {
			warnings = append(warnings, field.NewPath("spec", "static", "appProtocol").String()+
				": tcp makes this a raw TCP backend: only TCPRoutes and TLSRoutes may use it; HTTPRoutes and GRPCRoutes that reference it get ResolvedRefs=False (UnsupportedProtocol) and answer 500")
		}
	}
	return errs, warnings
}
