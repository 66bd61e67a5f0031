package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgateway/agentgateway-go/operator/apiserver"
	"github.com/agentgateway/agentgateway-go/operator/apiserver/publish"
	"github.com/agentgateway/agentgateway-go/operator/translate"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
	"github.com/agentgateway/agentgateway-go/proxy/configstream"
	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

// The benchmarks below price, without a cluster, each step a route change goes through
// between the informer cache and a proxy serving it, for a Gateway with n benchmark routes:
// translation of everything (operator, on every change), the content hash (operator), the
// encoding of the push (operator) and its decoding (proxy), whole and as a delta, and the
// proxy building and swapping in the new handler graph. Run: go test -run '^$' -bench . ./hack/bench/routes

var sizes = []int{100, 1000}

// snapshot is what the operator's cache holds for the benchmark namespace with n routes.
func snapshot(n int) *translate.Snapshot {
	const ns, gw = "agw-bench", "bench"
	s := &translate.Snapshot{
		ControllerName: controllerName,
		GatewayClasses: []gwv1.GatewayClass{{
			ObjectMeta: metav1.ObjectMeta{Name: "agentgateway", Generation: 1},
			Spec:       gwv1.GatewayClassSpec{ControllerName: controllerName},
		}},
		Gateways: []gwv1.Gateway{{
			ObjectMeta: metav1.ObjectMeta{Name: gw, Namespace: ns, Generation: 1},
			Spec: gwv1.GatewaySpec{GatewayClassName: "agentgateway", Listeners: []gwv1.Listener{{
				Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80,
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(gwv1.NamespacesFromSame)}},
			}}},
		}},
		Namespaces: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: ns}}},
	}
	for _, b := range backends {
		s.Services = append(s.Services, corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: b, Namespace: ns},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9", Selector: map[string]string{"app": b},
				Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(3000), Protocol: corev1.ProtocolTCP}}},
		})
		s.EndpointSlices = append(s.EndpointSlices, discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: b + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: b}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.50"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](3000), Protocol: ptr.To(corev1.ProtocolTCP)}},
		})
	}
	for i := 1; i <= n; i++ {
		r := route(ns, gw, i, backends[0])
		r.Generation = 1
		r.CreationTimestamp = metav1.Unix(int64(1_800_000_000+i), 0)
		s.HTTPRoutes = append(s.HTTPRoutes, *r)
	}
	return s
}

// gatewayConfig translates s and returns the benchmark Gateway's config, checking it
// carries every route.
func gatewayConfig(tb testing.TB, s *translate.Snapshot, n int) *config.Config {
	res := translate.Translate(s)
	if len(res.Gateways) == 0 {
		tb.Fatal("no gateway translated")
	}
	g := res.Gateways[0]
	if g.Config == nil {
		tb.Fatalf("gateway %s/%s rejected: %+v", g.Namespace, g.Name, g.Conditions)
	}
	got := 0
	for _, b := range g.Config.Binds {
		for _, l := range b.Listeners {
			got += len(l.HTTPRoutes)
		}
	}
	if got != n {
		tb.Fatalf("config has %d routes, want %d", got, n)
	}
	return g.Config
}

// BenchmarkTranslate is a translation from scratch, and one that follows the translation
// of the snapshot before a route was added (translate.TranslateReusing, as the operator
// does), which reuses the encodings of the routes that did not change.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := snapshot(n)
			gatewayConfig(b, s, n)
			b.ReportAllocs()
			for b.Loop() {
				translate.Translate(s)
			}
		})
		b.Run("reusing/"+strconv.Itoa(n), func(b *testing.B) {
			prev := translate.TranslateReusing(versioned(snapshot(n)), nil)
			s := versioned(snapshot(n + 1))
			if got := translate.TranslateReusing(s, prev); got.Gateways[0].Encoded.Reused() != n {
				b.Fatalf("reused %d routes, want %d", got.Gateways[0].Encoded.Reused(), n)
			}
			b.ReportAllocs()
			for b.Loop() {
				translate.TranslateReusing(s, prev)
			}
		})
	}
}

// versioned gives every object of s a UID and resourceVersion, as objects read from an
// API server have (an object's content is the same in every snapshot here).
func versioned(s *translate.Snapshot) *translate.Snapshot {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		for j := range f.Len() {
			obj := f.Index(j).Addr().Interface().(metav1.Object)
			obj.SetResourceVersion("1")
			obj.SetUID(types.UID(v.Type().Field(i).Name + "/" + obj.GetNamespace() + "/" + obj.GetName()))
		}
	}
	return s
}

// BenchmarkVersionOf is cutting the config into pieces and hashing them (translation
// does it once per change; the pieces then serve every push).
func BenchmarkVersionOf(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cfg := gatewayConfig(b, snapshot(n), n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := configstream.VersionOf(cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pushes returns a Gateway's config with n routes and with route n+1 added (the change
// the propagation step makes), their pieces, and both pushes of the second version: whole
// (a proxy that connects) and as a delta from the first (a proxy that runs it).
func pushes(b *testing.B, n int) (base *config.Config, whole, delta []byte) {
	base = gatewayConfig(b, snapshot(n), n)
	next := gatewayConfig(b, snapshot(n+1), n+1)
	eb, err := configdelta.Encode(base)
	if err != nil {
		b.Fatal(err)
	}
	en, err := configdelta.Encode(next)
	if err != nil {
		b.Fatal(err)
	}
	base.Version = eb.Version
	whole, err = json.Marshal(&configstream.Response{Version: en.Version, Nonce: "1", Config: next})
	if err != nil {
		b.Fatal(err)
	}
	delta, err = json.Marshal(map[string]any{"version": en.Version, "nonce": "1", "delta": json.RawMessage(configdelta.Diff(eb, en))})
	if err != nil {
		b.Fatal(err)
	}
	return base, whole, delta
}

// BenchmarkPushEncode is the operator making a push of a new version: whole, the JSON of
// the config (once per version, for proxies that connect), or a delta from the version a
// proxy runs (configdelta.Diff of the two versions' pieces: a byte comparison per piece).
func BenchmarkPushEncode(b *testing.B) {
	for _, n := range sizes {
		b.Run("whole/"+strconv.Itoa(n), func(b *testing.B) {
			resp := &configstream.Response{Version: "v", Nonce: "1", Config: gatewayConfig(b, snapshot(n), n)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("delta/"+strconv.Itoa(n), func(b *testing.B) {
			eb, err := configdelta.Encode(gatewayConfig(b, snapshot(n), n))
			if err != nil {
				b.Fatal(err)
			}
			en, err := configdelta.Encode(gatewayConfig(b, snapshot(n+1), n+1))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				configdelta.Diff(eb, en)
			}
		})
	}
}

// BenchmarkPushDecode is the proxy receiving the version with one route added: decoding
// it whole, or decoding the delta and rebuilding the whole config from the one it runs.
func BenchmarkPushDecode(b *testing.B) {
	for _, n := range sizes {
		base, whole, delta := pushes(b, n)
		b.Run("whole/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(whole)))
			b.ReportAllocs()
			for b.Loop() {
				var r configstream.Response
				if err := json.Unmarshal(whole, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("delta/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(delta)))
			b.ReportAllocs()
			for b.Loop() {
				var r configstream.Response
				if err := json.Unmarshal(delta, &r); err != nil {
					b.Fatal(err)
				}
				if _, err := configdelta.Apply(base, r.Delta, r.Version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProxyApply is the proxy validating the config, building the handler graph and
// swapping it in, alternating between two versions (one route more or less) so every
// Apply is a real change: whole, as a config read from a file or pushed whole (every
// route is compared with the route cache's copy), and delta, as the config stream applies
// a config rebuilt from a delta (dataplane.ApplyDelta: only the routes the delta carried).
func BenchmarkProxyApply(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			var cfgs [2]*config.Config
			for k := range cfgs {
				c := gatewayConfig(b, snapshot(n+k), n+k)
				for i := range c.Binds {
					c.Binds[i].Address, c.Binds[i].Port = "127.0.0.1", port
				}
				c.Version = fmt.Sprint(k)
				cfgs[k] = c
			}
			// The route of the larger config that the smaller one lacks: the one a delta
			// from the smaller carries.
			added := map[string]bool{}
			for _, r := range cfgs[1].Binds[0].Listeners[0].HTTPRoutes {
				added[r.EffectiveKey()] = true
			}
			for _, r := range cfgs[0].Binds[0].Listeners[0].HTTPRoutes {
				delete(added, r.EffectiveKey())
			}
			unchanged := func(_, _, key string) bool { return !added[key] }
			for _, delta := range []bool{false, true} {
				name := "whole"
				if delta {
					name = "delta"
				}
				b.Run(name, func(b *testing.B) {
					rt := dataplane.New(dataplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					defer func() {
						if err := rt.Shutdown(context.Background()); err != nil {
							b.Error(err)
						}
					}()
					if err := rt.Apply(cfgs[1]); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					k := 0
					for b.Loop() {
						c, base := cfgs[k%2], cfgs[(k+1)%2].Version
						var err error
						if delta {
							// As the config stream applies a config rebuilt from a delta.
							err = rt.ApplyDelta(c, base, unchanged)
						} else {
							err = rt.Apply(c)
						}
						if err != nil {
							b.Fatal(err)
						}
						k++
					}
				})
			}
		})
	}
}

// BenchmarkViews prices publishing a translation's EffectiveConfigs to the aggregated API's
// store (every replica does it after every translation) when one route changed: the store
// compares each Gateway's view with the one it holds and stores the new one.
func BenchmarkViews(b *testing.B) {
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var res [2]*translate.Result
			for k := range res {
				res[k] = translate.Translate(snapshot(n + k))
			}
			v := apiserver.NewViews()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				v.PublishEffectiveConfigs(publish.EffectiveConfigs(res[i%2]))
				i++
			}
		})
	}
}
