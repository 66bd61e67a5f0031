package configstream

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

func testConfig(port int, hosts ...string) *config.Config {
	c := &config.Config{
		Binds: []config.Bind{{Name: "port-80", Port: port, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{Name: "http", Protocol: config.ProtocolHTTP}}}},
	}
	for _, h := range hosts {
		c.Binds[0].Listeners[0].HTTPRoutes = append(c.Binds[0].Listeners[0].HTTPRoutes, config.HTTPRoute{
			RouteMeta: config.RouteMeta{Namespace: "ns", Name: h},
			Hostnames: []string{h},
			Rules:     []config.HTTPRouteRule{{}},
		})
	}
	return c
}

// TestEncodedResponseIsAResponse: a push of pre-encoded bytes, whole or a delta, decodes
// on the proxy into the Response that encoding the Response itself would give, and the
// client rebuilds the same config from either.
func TestEncodedResponseIsAResponse(t *testing.T) {
	base, next := testConfig(80, "a.example.com"), testConfig(80, "a.example.com", "b.example.com")
	eb, err := configdelta.Encode(base)
	if err != nil {
		t.Fatal(err)
	}
	en, err := configdelta.Encode(next)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := VersionOf(next); err != nil || v != en.Version {
		t.Fatalf("VersionOf %s (%v), Encode %s", v, err, en.Version)
	}
	base.Version, next.Version = eb.Version, en.Version
	raw, err := fullJSON(next)
	if err != nil {
		t.Fatal(err)
	}
	codec := jsonCodec{}
	c := &Client{}
	for name, resp := range map[string]*encodedResponse{
		"whole": {version: en.Version, nonce: `7"\`, config: raw},
		"delta": {version: en.Version, nonce: `7"\`, delta: configdelta.Diff(eb, en)},
	} {
		t.Run(name, func(t *testing.T) {
			wire, err := codec.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(wire) {
				t.Fatalf("invalid JSON on the wire: %s", wire)
			}
			var got Response
			if err := codec.Unmarshal(wire, &got); err != nil {
				t.Fatal(err)
			}
			if got.Version != en.Version || got.Nonce != `7"\` {
				t.Fatalf("got version %q nonce %q", got.Version, got.Nonce)
			}
			if (got.Delta != nil) != (name == "delta") || (got.Config != nil) != (name == "whole") {
				t.Fatalf("got config %v, delta %v", got.Config != nil, got.Delta != nil)
			}
			var applied *config.Config
			out, err := c.apply(&got, base, func(c *config.Config) error { applied = c; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if out != applied || !reflect.DeepEqual(applied, next) {
				t.Fatalf("applied config differs:\n got %+v\nwant %+v", applied, next)
			}
		})
	}
}

// TestSnapshotsEncodeOnce: a version's whole encoding and its delta from a base are made
// on the first push that needs them and reused; a new version replaces them.
func TestSnapshotsEncodeOnce(t *testing.T) {
	s := NewSnapshots()
	c1 := testConfig(80, "a.example.com")
	if ok, err := s.Set(gw, c1); !ok || err != nil {
		t.Fatalf("Set: %v %v", ok, err)
	}
	e1, _ := s.latest(gw)
	full1, _, ok, err := s.push(gw, nil, e1)
	if !ok || err != nil || full1 == nil {
		t.Fatalf("push: %v %v", ok, err)
	}
	if full2, _, _, err := s.push(gw, nil, e1); err != nil || &full1[0] != &full2[0] {
		t.Fatalf("encoded twice (%v)", err)
	}
	c2 := testConfig(80, "a.example.com", "b.example.com")
	if _, err := s.Set(gw, c2); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := s.push(gw, nil, e1); ok || err != nil {
		t.Fatalf("a replaced version was pushed (%v)", err)
	}
	e2, _ := s.latest(gw)
	_, d1, ok, err := s.push(gw, e1, e2)
	if err != nil {
		t.Fatal(err)
	}
	if !ok || d1 == nil {
		t.Fatal("no delta")
	}
	if _, d2, _, err := s.push(gw, e1, e2); err != nil || &d1[0] != &d2[0] {
		t.Fatalf("delta made twice (%v)", err)
	}
	if c2.Version != e2.Version {
		t.Fatalf("Set left version %q, want %q", c2.Version, e2.Version)
	}
}

// A delta the client cannot rebuild from is marked for a resend, and nothing is applied.
func TestClientMarksUnbuildableDelta(t *testing.T) {
	base := testConfig(80, "a.example.com")
	base.Version = "v1"
	called := false
	_, err := (&Client{}).apply(&Response{Version: "v2", Nonce: "1", Delta: &configdelta.Delta{Base: "v0"}}, base,
		func(*config.Config) error { called = true; return nil })
	if !errors.Is(err, errRebuild) || called {
		t.Fatalf("err %v, applied %v", err, called)
	}
	// A config the apply function refuses is a rejection, not a resend.
	_, err = (&Client{}).apply(&Response{Version: "v2", Nonce: "1", Delta: &configdelta.Delta{Base: "v1"}}, base,
		func(*config.Config) error { return errors.New("refused") })
	if err == nil || errors.Is(err, errRebuild) {
		t.Fatalf("err %v", err)
	}
}
