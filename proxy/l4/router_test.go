package l4

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
)

func TestSNIRouterMatch(t *testing.T) {
	b := one("127.0.0.1:1")
	r, err := NewSNIRouter([]Route{
		{Name: "wild", Hostnames: []string{"*.example.com"}, Backends: b},
		{Name: "exact", Hostnames: []string{"foo.example.com"}, Backends: b},
		{Name: "deep", Hostnames: []string{"*.bar.example.com"}, Backends: b},
		{Name: "dup", Hostnames: []string{"foo.example.com", "*.example.com"}, Backends: b},
		{Name: "upper", Hostnames: []string{"MiXeD.test."}, Backends: b},
		{Name: "any", Backends: b},
		{Name: "any2", Backends: b},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sni, want string }{
		{"foo.example.com", "exact"},  // exact beats wildcard, and the earlier route keeps a duplicate
		{"FOO.example.com.", "exact"}, // case and trailing dot ignored
		{"x.example.com", "wild"},     // one label
		{"a.b.example.com", "wild"},   // several labels
		{"q.bar.example.com", "deep"}, // longest wildcard wins
		{"bar.example.com", "wild"},   // "*.bar.example.com" needs a label before bar
		{"example.com", "any"},        // a wildcard never matches its bare suffix
		{"mixed.test", "upper"},       //
		{"", "any"},                   // no SNI: the first catch-all
		{"xexample.com", "any"},       // suffix must align on a label boundary
		{"unrelated.org", "any"},      //
	} {
		got, ok := r.Match(tc.sni)
		if !ok || got != tc.want {
			t.Errorf("Match(%q) = %q, %v; want %q", tc.sni, got, ok, tc.want)
		}
	}

	strict, err := NewSNIRouter([]Route{{Name: "only", Hostnames: []string{"a.test"}, Backends: b}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sni := range []string{"", "b.test", "x.a.test"} {
		if got, ok := strict.Match(sni); ok {
			t.Errorf("Match(%q) = %q, want no route", sni, got)
		}
	}
}

func TestSNIRouterRejectsBadHostnames(t *testing.T) {
	for _, h := range []string{"", "*", "*example.com", "a.*.com", "foo..com", "under_score.com", "*.", "a b.com"} {
		if _, err := NewSNIRouter([]Route{{Hostnames: []string{h}, Backends: one("127.0.0.1:1")}}); err == nil {
			t.Errorf("hostname %q accepted", h)
		}
	}
}

// captureHello returns the bytes crypto/tls sends as its first flight.
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	client, server := net.Pipe()
	go func() {
		// The handshake fails by design: the other end only records the hello and closes.
		tls.Client(client, cfg).Handshake() //nolint:errcheck // fails by design, see above
		client.Close()
	}()
	var buf bytes.Buffer
	// The hello is all the client sends before it waits for the server.
	raw, _, err := readClientHello(io.TeeReader(server, &buf))
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, buf.Bytes()) {
		t.Fatal("returned bytes differ from the bytes read")
	}
	return raw
}

func TestReadClientHello(t *testing.T) {
	raw := captureHello(t, &tls.Config{ServerName: "svc.example.com", InsecureSkipVerify: true})
	_, sni, err := readClientHello(bytes.NewReader(raw))
	if err != nil || sni != "svc.example.com" {
		t.Fatalf("sni %q err %v", sni, err)
	}

	// The same hello split into 100-byte records: TLS allows a handshake
	// message to span records, and some clients (and attackers) do it.
	split := splitRecords(raw, 100)
	_, sni, err = readClientHello(bytes.NewReader(split))
	if err != nil || sni != "svc.example.com" {
		t.Fatalf("fragmented: sni %q err %v", sni, err)
	}

	noSNI := captureHello(t, &tls.Config{ServerName: "10.0.0.1", InsecureSkipVerify: true})
	if _, sni, err := readClientHello(bytes.NewReader(noSNI)); err != nil || sni != "" {
		t.Fatalf("no-SNI hello: sni %q err %v", sni, err)
	}

	for name, in := range map[string][]byte{
		"plaintext": []byte("GET / HTTP/1.1\r\n"),
		"truncated": raw[:len(raw)-10],
		"empty":     nil,
	} {
		if _, _, err := readClientHello(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// splitRecords re-frames the handshake payload of one TLS record into
// records of at most n payload bytes.
func splitRecords(rec []byte, n int) []byte {
	hdr, payload := rec[:5], rec[5:]
	var out []byte
	for len(payload) > 0 {
		k := min(n, len(payload))
		out = append(out, hdr[0], hdr[1], hdr[2], byte(k>>8), byte(k))
		out = append(out, payload[:k]...)
		payload = payload[k:]
	}
	return out
}

func FuzzReadClientHello(f *testing.F) {
	f.Add(captureHello(f, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, sni, err := readClientHello(bytes.NewReader(in))
		if !bytes.HasPrefix(in, raw) {
			t.Fatal("returned bytes are not a prefix of the input")
		}
		if err != nil && sni != "" {
			t.Fatal("sni with error")
		}
	})
}
