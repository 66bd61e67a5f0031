package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.txt golden files")

// TestGolden decodes and validates every testdata/*.in.yaml and compares
// the outcome (decode error, every validation error, or the redacted
// config) with the matching .out.txt file.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := outcome(data)
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.txt"
			if *update {
				if err := os.WriteFile(out, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("outcome differs from %s (go test -update rewrites it)\n--- got\n%s", out, got)
			}
		})
	}
}

func outcome(data []byte) string {
	c, err := Decode(data)
	if err != nil {
		return "decode error: " + err.Error() + "\n"
	}
	if err := c.Validate(); err != nil {
		var errs Errors
		if !errors.As(err, &errs) {
			return "unexpected error type: " + err.Error() + "\n"
		}
		var b strings.Builder
		b.WriteString("validation errors:\n")
		for _, e := range errs {
			b.WriteString("  " + e.Error() + "\n")
		}
		return b.String()
	}
	js, err := Encode(c.Redacted())
	if err != nil {
		return "encode error: " + err.Error() + "\n"
	}
	return "valid; redacted:\n" + string(js) + "\n"
}

func TestRedactedHidesKeysAndLeavesOriginal(t *testing.T) {
	data, err := os.ReadFile("testdata/valid-full.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	// The original must hold a key, or the checks below prove nothing.
	if !strings.Contains(c.Binds[1].Listeners[0].TLS.Certificates[0].PrivateKey, "PRIVATE KEY") {
		t.Fatal("testdata/valid-full.in.yaml has no private key at binds[1].listeners[0]")
	}
	r := c.Redacted()
	js, err := Encode(r)
	if err != nil {
		t.Fatalf("encode redacted config: %v", err)
	}
	if got := r.Binds[1].Listeners[0].TLS.Certificates[0].PrivateKey; got != RedactedValue || !strings.Contains(string(js), RedactedValue) {
		t.Fatalf("redacted key is %q, want %q in the config and its encoding:\n%s", got, RedactedValue, js)
	}
	if strings.Contains(string(js), "PRIVATE KEY") {
		t.Fatal("redacted config still contains a private key")
	}
	if !strings.Contains(c.Binds[1].Listeners[0].TLS.Certificates[0].PrivateKey, "PRIVATE KEY") {
		t.Fatal("Redacted modified the original config")
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/valid-full.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	js, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Decode(js)
	if err != nil {
		t.Fatalf("re-decoding encoded config: %v", err)
	}
	js2, err := Encode(c2)
	if err != nil {
		t.Fatalf("encode re-decoded config: %v", err)
	}
	if string(js) != string(js2) {
		t.Fatal("encode/decode is not a fixed point")
	}
}

// FuzzDecode checks that arbitrary input never panics the decoder or the
// validator, and that anything valid survives an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		f.Fatalf("seed corpus testdata/*.in.yaml: %d files, %v", len(ins), err)
	}
	for _, in := range ins {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":"1","binds":[{"name":"a","port":1,"protocol":"HTTP","listeners":[{"name":"l","protocol":"HTTP"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		js, err := Encode(c)
		if err != nil {
			t.Fatalf("encode valid config: %v", err)
		}
		c2, err := Decode(js)
		if err != nil {
			t.Fatalf("decode re-encoded valid config: %v\n%s", err, js)
		}
		if err := c2.Validate(); err != nil {
			t.Fatalf("re-encoded valid config is invalid: %v", err)
		}
	})
}
