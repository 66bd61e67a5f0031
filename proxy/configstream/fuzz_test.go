package configstream

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// FuzzCodec decodes arbitrary bytes with the stream's codec as both
// message types. A decoded message re-encodes to a fixed point, a delta
// it carries applies to a config without panicking, and a response the
// server writes by hand (encodedResponse.wire) decodes to what
// encoding/json (the reference) reads from a marshalled Response.
func FuzzCodec(f *testing.F) {
	base := &config.Config{Binds: []config.Bind{{Name: "b", Port: 80, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{Name: "l", Protocol: config.ProtocolHTTP}}}}}
	enc, err := configdelta.Encode(base)
	if err != nil {
		f.Fatal(err)
	}
	base.Version = enc.Version
	full, err := fullJSON(base)
	if err != nil {
		f.Fatal(err)
	}
	next := *base
	next.Backends = []config.Backend{{Name: "be"}}
	nextEnc, err := configdelta.Encode(&next)
	if err != nil {
		f.Fatal(err)
	}
	delta := configdelta.Diff(enc, nextEnc)
	for _, w := range []*encodedResponse{
		{version: "v1", nonce: "1", config: full},
		{version: nextEnc.Version, nonce: "2", delta: delta},
		{version: "\u2028<>&\"\\", nonce: "", config: []byte("{}")},
	} {
		b, err := w.wire()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, w.version, w.nonce)
	}
	f.Add([]byte(`{"node":{"namespace":"ns","gateway":"gw","pod":"p"},"running":"v","deltas":true}`), "", "")
	f.Add([]byte(`{"version":"v","nonce":"n","config":null,"delta":{"base":"x"}}`), "v", "n")
	codec := jsonCodec{}
	f.Fuzz(func(t *testing.T, data []byte, version, nonce string) {
		var resp Response
		if codec.Unmarshal(data, &resp) == nil {
			roundTrip(t, &resp)
			if resp.Delta != nil {
				if resp.Delta.Base == "" {
					resp.Delta.Base = base.Version
				}
				if c, err := configdelta.Apply(base, resp.Delta, resp.Version); err == nil {
					if _, err := configdelta.Encode(c); err != nil {
						t.Fatalf("a delta rebuilt a config that does not encode: %v", err)
					}
				}
			}
		}
		var req Request
		if codec.Unmarshal(data, &req) == nil {
			roundTrip(t, &req)
		}
		// The hand-written envelope around arbitrary strings and a valid
		// JSON body.
		if !utf8.ValidString(version) || !utf8.ValidString(nonce) || !json.Valid(data) {
			return
		}
		for _, w := range []*encodedResponse{{version: version, nonce: nonce, config: data}, {version: version, nonce: nonce, delta: data}} {
			wire, err := codec.Marshal(w)
			if err != nil {
				t.Fatalf("wire: %v", err)
			}
			var got, want map[string]json.RawMessage
			if err := json.Unmarshal(wire, &got); err != nil {
				t.Fatalf("the server wrote invalid JSON %q: %v", wire, err)
			}
			body := "config"
			if w.config == nil {
				body = "delta"
			}
			ref, err := json.Marshal(map[string]any{"version": version, "nonce": nonce, body: json.RawMessage(data)})
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("wire %q has fields %d, want %d", wire, len(got), len(want))
			}
			for k, v := range want {
				var a, b any
				if json.Unmarshal(v, &a) != nil || json.Unmarshal(got[k], &b) != nil || !reflect.DeepEqual(a, b) {
					t.Fatalf("field %s: wire %s, reference %s", k, got[k], v)
				}
			}
		}
	})
}

// roundTrip checks that encoding a decoded message and decoding it again
// gives the same encoding.
func roundTrip[T any](t *testing.T, m *T) {
	t.Helper()
	codec := jsonCodec{}
	b, err := codec.Marshal(m)
	if err != nil {
		return // a decoded float that JSON cannot hold, for one
	}
	var again T
	if err := codec.Unmarshal(b, &again); err != nil {
		t.Fatalf("decode re-encoded %T %s: %v", m, b, err)
	}
	b2, err := codec.Marshal(&again)
	if err != nil || string(b) != string(b2) {
		t.Fatalf("%T is not a fixed point:\n%s\n%s (%v)", m, b, b2, err)
	}
}
