package main

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/agentgateway/agentgateway-go/operator/configserver"
	"github.com/agentgateway/agentgateway-go/operator/provider"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
	"github.com/agentgateway/agentgateway-go/webhook"
)

// Prefix starts the name of every metric of ours.
const Prefix = "agentgateway_"

// family is one documented metric.
type family struct {
	Name, Type, Help string
	Labels           []string
	Native           bool // a histogram that also has native (sparse) buckets
}

// component is the set of metrics one program exports.
type component struct {
	Name, Endpoint string
	Families       []family
}

// components builds each program's collectors the way the program does and describes them.
func components() ([]component, error) {
	proxy := newRecorder()
	dataplane.New(dataplane.Options{Registerer: proxy, Logger: slog.New(slog.DiscardHandler)})
	configstream.NewClientMetrics(proxy)

	op := newRecorder()
	if _, err := configserver.New(nil, op, nil); err != nil {
		return nil, err
	}
	for _, c := range append(provider.Collectors(), webhook.Collectors()...) {
		if err := op.Register(c); err != nil {
			return nil, err
		}
	}
	var out []component
	for _, c := range []struct {
		name, endpoint string
		rec            *recorder
	}{
		{"Proxy", "every proxy pod, port `metrics` (15020), path `/metrics`", proxy},
		{"Operator", "every operator pod, port `metrics` (8080), path `/metrics` (Service `agentgateway-metrics`)", op},
	} {
		fams, err := c.rec.describe()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		out = append(out, component{Name: c.name, Endpoint: c.endpoint, Families: fams})
	}
	return out, nil
}

// recorder is a registry that remembers what was registered on it.
type recorder struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func newRecorder() *recorder { return &recorder{Registry: prometheus.NewRegistry()} }

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// describe makes a series of every labelled family (labels "<label>"), gathers the
// registry and returns the families sorted by name, after checking the naming scheme.
func (r *recorder) describe() ([]family, error) {
	want := map[string]bool{}
	var scrapeTime []family // collectors whose series exist only at scrape time
	for _, c := range r.collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				continue
			}
			if vt, ok := c.(interface{ ValueType() prometheus.ValueType }); ok {
				f, err := fromDesc(d, vt.ValueType())
				if err != nil {
					return nil, err
				}
				scrapeTime = append(scrapeTime, f)
				continue
			}
			want[m[1]] = true
		}
		if err := touch(c); err != nil {
			return nil, err
		}
	}
	mfs, err := r.Gather()
	if err != nil {
		return nil, err
	}
	var errs []error
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		errs = append(errs, fmt.Errorf("%s: %s", p.Metric, p.Text))
	}
	out := scrapeTime
	for _, f := range scrapeTime {
		if !strings.HasPrefix(f.Name, Prefix) || f.Help == "" {
			errs = append(errs, fmt.Errorf("%s: name must start with %s and have help", f.Name, Prefix))
		}
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !want[name] {
			continue // not ours to document: registered by a library (none today)
		}
		delete(want, name)
		f := family{Name: name, Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp()}
		if len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			for _, l := range m.GetLabel() {
				f.Labels = append(f.Labels, l.GetName())
			}
			if h := m.GetHistogram(); h != nil && h.Schema != nil {
				f.Native = true
			}
		}
		switch {
		case !strings.HasPrefix(name, Prefix):
			errs = append(errs, fmt.Errorf("%s: name must start with %s", name, Prefix))
		case mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total"):
			errs = append(errs, fmt.Errorf("%s: a counter's name ends in _total", name))
		case mf.GetType() != dto.MetricType_COUNTER && strings.HasSuffix(name, "_total"):
			errs = append(errs, fmt.Errorf("%s: only counters end in _total", name))
		case f.Help == "":
			errs = append(errs, fmt.Errorf("%s: no help", name))
		}
		out = append(out, f)
	}
	for name := range want {
		errs = append(errs, fmt.Errorf("%s: the collector exported no series to describe; give it one at construction", name))
	}
	slices.SortFunc(out, func(a, b family) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

var (
	descHelp   = regexp.MustCompile(`help: ("(?:[^"\\]|\\.)*")`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// fromDesc describes a family from its Desc, for collectors that make their series at
// scrape time (from the serving config) and say their type with ValueType.
func fromDesc(d *prometheus.Desc, vt prometheus.ValueType) (family, error) {
	s := d.String()
	f := family{Name: fqName.FindStringSubmatch(s)[1]}
	h := descHelp.FindStringSubmatch(s)
	if h == nil {
		return f, fmt.Errorf("%s: no help in %s", f.Name, s)
	}
	help, err := strconv.Unquote(h[1])
	if err != nil {
		return f, fmt.Errorf("%s: %w", f.Name, err)
	}
	f.Help = help
	if l := descLabels.FindStringSubmatch(s); len(l) == 2 && l[1] != "" {
		f.Labels = strings.Split(l[1], ",")
		slices.Sort(f.Labels)
	}
	switch vt {
	case prometheus.CounterValue:
		f.Type = "counter"
	case prometheus.GaugeValue:
		f.Type = "gauge"
	default:
		f.Type = "untyped"
	}
	return f, nil
}

// labelledVec is what the client library's vectors share.
type labelledVec[T any] interface {
	GetMetricWithLabelValues(...string) (T, error)
}

// touch creates one series of a labelled family, trying label counts until one fits
// (the library does not say how many labels a vector has).
func touch(c prometheus.Collector) error {
	switch v := c.(type) {
	case *prometheus.CounterVec:
		return touchVec[prometheus.Counter](v)
	case *prometheus.GaugeVec:
		return touchVec[prometheus.Gauge](v)
	case *prometheus.HistogramVec:
		return touchVec[prometheus.Observer](v)
	case *prometheus.SummaryVec:
		return touchVec[prometheus.Observer](v)
	}
	return nil
}

func touchVec[T any](v labelledVec[T]) error {
	for n := range 10 {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = "x"
		}
		if _, err := v.GetMetricWithLabelValues(vals...); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%T: no label count up to 9 fits", v)
}
