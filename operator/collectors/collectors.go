// Package collectors registers Prometheus collectors that several operator components (and
// several instances of one component in a test process) may register under the same name.
package collectors

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the collector already registered under its name (a second
// instance in one process shares the process-wide registry). A different error is appended to
// errs.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T, errs []error) (T, []error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, errs
			}
		}
		return c, append(errs, err)
	}
	return c, errs
}
