package upstream

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// healthChecker probes the endpoints of one backend: one goroutine per
// endpoint, from Pool.Commit until the backend is retired.
type healthChecker struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Transport // HTTP checks; nil for TCP checks
}

// maxHealthBody is how much of a health check response is read, so the
// connection could be reused; the rest is dropped with it.
const maxHealthBody = 64 << 10

// startHealth starts active health checks if the backend has them. Health
// is per backend, shared by every route that sends to it.
func (b *Backend) startHealth() {
	hc := b.res.health
	if hc == nil || b.health != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthChecker{cancel: cancel}
	if hc.HTTP != nil {
		t := b.transport.Clone()
		t.DialContext = b.dialer.DialContext // not counted by the circuit breakers
		t.DisableKeepAlives = true
		h.client = t
	}
	b.health = h
	for _, ep := range b.endpoints {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			b.checkLoop(ctx, h, ep)
		}()
	}
}

// stopHealth stops the health checks; a check in progress is canceled.
func (b *Backend) stopHealth() {
	if b.health != nil {
		b.health.cancel()
	}
}

// waitHealth waits for the health check goroutines to end (tests).
func (b *Backend) waitHealth() {
	if b.health != nil {
		b.health.wg.Wait()
	}
}

func (b *Backend) checkLoop(ctx context.Context, h *healthChecker, ep *Endpoint) {
	hc := b.res.health
	interval, timeout := config.DefaultHealthInterval, config.DefaultHealthTimeout
	if hc.Interval != nil {
		interval = hc.Interval.Duration
	}
	if hc.Timeout != nil {
		timeout = hc.Timeout.Duration
	}
	healthyAfter, unhealthyAfter := hc.HealthyThreshold, hc.UnhealthyThreshold
	if healthyAfter <= 0 {
		healthyAfter = config.DefaultHealthyThreshold
	}
	if unhealthyAfter <= 0 {
		unhealthyAfter = config.DefaultUnhealthyThreshold
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	passed, failed := 0, 0
	for {
		ok := b.probe(ctx, h, ep, timeout)
		if ctx.Err() != nil {
			return
		}
		if ok {
			failed = 0
			passed++
			if passed >= healthyAfter && ep.unhealthy.Load() {
				ep.unhealthy.Store(false)
				// Passing again ends an outlier ejection too: the
				// endpoint is back.
				ep.ejectedUntil.Store(0)
				healthTransitionsTotal.WithLabelValues(b.Name, "healthy").Inc()
			}
		} else {
			passed = 0
			failed++
			if failed >= unhealthyAfter && !ep.unhealthy.Load() {
				ep.unhealthy.Store(true)
				healthTransitionsTotal.WithLabelValues(b.Name, "unhealthy").Inc()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe runs one check of ep.
func (b *Backend) probe(ctx context.Context, h *healthChecker, ep *Endpoint, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := b.res.health
	if hc.TCP != nil {
		c, err := b.dialer.DialContext(ctx, "tcp", ep.Address)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.Scheme()+"://"+ep.Address+hc.HTTP.Path, nil)
	if err != nil {
		return false
	}
	if hc.HTTP.Host != "" {
		req.Host = hc.HTTP.Host
	}
	req.Header.Set("User-Agent", "agentgateway-health-check")
	resp, err := h.client.RoundTrip(req)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
	resp.Body.Close()
	if err != nil {
		return false
	}
	if len(hc.HTTP.ExpectedStatuses) == 0 {
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
	for _, r := range hc.HTTP.ExpectedStatuses {
		if r.Matches(resp.StatusCode) {
			return true
		}
	}
	return false
}
