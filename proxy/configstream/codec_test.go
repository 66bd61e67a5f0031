package configstream

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// TestEncodedResponseIsAResponse: a push of pre-encoded bytes decodes, on the proxy, into
// the same Response (and config) as encoding the Response itself would, with the version
// restored into the config.
func TestEncodedResponseIsAResponse(t *testing.T) {
	c := &config.Config{
		Binds: []config.Bind{{Name: "port-80", Port: 80, Protocol: config.ProtocolHTTP, Listeners: []config.Listener{{Name: "http", Protocol: config.ProtocolHTTP}}}},
	}
	v, raw, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := VersionOf(c); v != want {
		t.Fatalf("Encode version %s, VersionOf %s", v, want)
	}
	c.Version = v
	codec := jsonCodec{}
	wire, err := codec.Marshal(&encodedResponse{version: v, nonce: `7"\`, config: raw})
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
	if got.Version != v || got.Nonce != `7"\` {
		t.Fatalf("got version %q nonce %q", got.Version, got.Nonce)
	}
	// What the client does before applying.
	if got.Config.Version == "" {
		got.Config.Version = got.Version
	}
	if !reflect.DeepEqual(got.Config, c) {
		t.Fatalf("decoded config differs:\n got %+v\nwant %+v", got.Config, c)
	}
}

// TestSnapshotsEncodeOnce: a config published without its encoding is encoded on the
// first push and the bytes are reused; a new version replaces them.
func TestSnapshotsEncodeOnce(t *testing.T) {
	s := NewSnapshots()
	c := &config.Config{Binds: []config.Bind{{Name: "port-80", Port: 80, Protocol: config.ProtocolHTTP}}}
	c.Version, _ = VersionOf(c)
	s.Set(gw, c)
	_, raw1, _, err := s.encoded(gw)
	if err != nil || raw1 == nil {
		t.Fatalf("encoded: %v %v", raw1, err)
	}
	_, raw2, _, _ := s.encoded(gw)
	if &raw1[0] != &raw2[0] {
		t.Fatal("encoded twice")
	}
	c2 := &config.Config{Binds: []config.Bind{{Name: "port-81", Port: 81, Protocol: config.ProtocolHTTP}}}
	v2, raw, _ := Encode(c2)
	c2.Version = v2
	if !s.SetEncoded(gw, c2, raw) {
		t.Fatal("new version not stored")
	}
	if got, r, _, _ := s.encoded(gw); got != c2 || &r[0] != &raw[0] {
		t.Fatal("SetEncoded bytes not used")
	}
}
