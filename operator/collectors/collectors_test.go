package collectors

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesExisting(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "agw_test_total", Help: "test"}
	first, errs := Register(reg, prometheus.NewCounter(opts), nil)
	second, errs := Register(reg, prometheus.NewCounter(opts), errs)
	if len(errs) != 0 || first != second {
		t.Fatalf("second registration: errs=%v, same collector=%v", errs, first == second)
	}
	// A collector of another type under the same name is an error, reported in errs.
	if _, errs = Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "agw_test_total", Help: "test"}), errs); len(errs) != 1 {
		t.Fatalf("conflicting registration: errs=%v", errs)
	}
}
