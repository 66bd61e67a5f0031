package translate

import (
	"net"
	"time"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// notForL4 explains backend settings a TCP backend (of TCPRoutes and TLSRoutes) cannot use:
// L4 routes dial their endpoints directly.
const notForL4 = "not applied: TCP backends of L4 routes take no health checks, outlier detection, circuit breakers, connect retries or keep-alive settings"

// resilience returns the backend's resilience settings, adding them if needed.
func resilience(be *backendIR) *config.Resilience {
	if be.cfg.Resilience == nil {
		be.cfg.Resilience = &config.Resilience{}
	}
	return be.cfg.Resilience
}

// applyResilience maps the health check, outlier detection, circuit breaker and connect retry
// fields of a backend policy.
func (t *translator) applyResilience(be *backendIR, st *polStatus, path string, v any) {
	switch v := v.(type) {
	case *agwv1a1.BackendHealthCheck:
		hc := &config.HealthCheck{Interval: duration(v.Interval), Timeout: duration(v.Timeout),
			HealthyThreshold: int(deref(v.HealthyThreshold, 0)), UnhealthyThreshold: int(deref(v.UnhealthyThreshold, 0))}
		interval := config.DefaultHealthInterval
		if hc.Interval != nil {
			interval = max(hc.Interval.Duration, 10*time.Millisecond)
			hc.Interval = config.D(interval)
		}
		if hc.Timeout != nil && hc.Timeout.Duration > interval {
			// A set timeout must not exceed the interval; an unset one (1s)
			// may: the next check then waits for the slow one.
			st.note(path+".timeout", "longer than the interval: the interval is used")
			hc.Timeout = config.D(interval)
		}
		switch {
		case v.HTTP != nil:
			h := &config.HTTPHealthCheck{Path: v.HTTP.Path}
			if v.HTTP.Host != nil {
				h.Host = string(*v.HTTP.Host)
			}
			for _, r := range v.HTTP.ExpectedStatuses {
				h.ExpectedStatuses = append(h.ExpectedStatuses, config.StatusRange{Start: int(r.Start), End: int(deref(r.End, 0))})
			}
			hc.HTTP = h
		case v.TCP != nil:
			hc.TCP = &config.TCPHealthCheck{}
		default:
			st.note(path, "not applied: set http or tcp")
			return
		}
		resilience(be).HealthCheck = hc
	case *agwv1a1.OutlierDetection:
		od := &config.OutlierDetection{Consecutive5xx: int(deref(v.Consecutive5xx, 0)),
			ConsecutiveGatewayErrors: intPtr(v.ConsecutiveGatewayErrors), ConsecutiveLocalOriginFailures: intPtr(v.ConsecutiveLocalOriginFailures),
			Interval: duration(v.Interval), BaseEjectionTime: duration(v.BaseEjectionTime), MaxEjectionTime: duration(v.MaxEjectionTime),
			MaxEjectionPercent: intPtr(v.MaxEjectionPercent)}
		resilience(be).OutlierDetection = od
	case *agwv1a1.CircuitBreakers:
		cb := &config.CircuitBreakers{MaxConnections: int(deref(v.MaxConnections, 0)), MaxPendingRequests: int(deref(v.MaxPendingRequests, 0)),
			MaxRequests: int(deref(v.MaxRequests, 0)), MaxRetries: int(deref(v.MaxRetries, 0))}
		if cb.MaxPendingRequests > 0 && cb.MaxConnections == 0 {
			st.note(path+".maxPendingRequests", "not applied: requires maxConnections")
			cb.MaxPendingRequests = 0
		}
		resilience(be).CircuitBreakers = cb
	case *int32: // backend.connectRetries
		resilience(be).ConnectRetries = intPtr(v)
	}
}

// upstreamKeepalive maps the keep-alive of backend connections; why explains values the proxy
// cannot apply.
func upstreamKeepalive(k *agwv1a1.TCPKeepalive) (*config.UpstreamKeepalive, string) {
	out := &config.UpstreamKeepalive{Time: duration(k.Time), Interval: duration(k.Interval), Probes: int(deref(k.Probes, 0))}
	for _, d := range []*config.Duration{out.Time, out.Interval} {
		if d != nil && d.Duration < time.Second {
			return nil, "not applied: keep-alive time and interval must be at least 1s"
		}
	}
	return out, ""
}

func intPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	n := int(*p)
	return &n
}

// defaultSNI is the server name of a backend whose TLS settings name none: the Service's
// hostname, <name>.<namespace>.svc (not the pod IP a connection goes to), or the host of an
// AgentgatewayBackend or ExternalName Service, which the proxy sends as it dials it.
func defaultSNI(be *backendIR) string {
	if len(be.cfg.Endpoints) > 0 {
		if host, _, err := net.SplitHostPort(be.cfg.Endpoints[0].Address); err == nil && net.ParseIP(host) == nil {
			return host
		}
	}
	if be.target.Kind == "Service" {
		return be.target.Name + "." + be.target.Namespace + ".svc"
	}
	return ""
}
