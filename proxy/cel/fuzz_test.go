package cel

import (
	"context"
	"testing"
	"time"
)

// FuzzCheck checks arbitrary text in every phase (and every kind in the
// widest phase), and evaluates
// whatever compiles against a populated request. Nothing may panic; errors
// are fine. The seeds (the table cases) run as part of `go test`.
func FuzzCheck(f *testing.F) {
	for _, tc := range checkCases {
		f.Add(tc.expr)
	}
	for _, s := range []string{
		`request.headers.all(k, v, k.size() > 0)`,
		`jsonParse(request.headers["x-json"])`,
		`toJson(jsonParse('{"a": [1, {"b": null}]}'))`,
		`"%d".format([1])`,
		`request.path.split("/")[99]`,
		`jwt.claims.nope.deeper`,
		`base64.decode("!!!")`,
		`ip("nope")`,
		"\x00\xff`'\"",
		`(((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))`,
	} {
		f.Add(s)
	}
	act := testActivation()
	act.Request.Headers.Set("X-Json", `{"k": [1, 2.5, "x", {"n": null}]}`)
	act.Request.Body = []byte(`{"messages": [{"role": "system"}]}`)
	act.Response = &Response{Code: 503, Body: []byte("oops")}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, phase := range Phases() {
			kinds := []Kind{KindAny}
			if phase == PhaseResponse { // the widest phase
				kinds = Kinds()
			}
			for _, kind := range kinds {
				p, issues := Check(phase, kind, expr)
				if (p == nil) != HasErrors(issues) {
					t.Fatalf("Check(%s, %s, %q): program %v with issues %v", phase, kind, expr, p != nil, issues)
				}
				for _, i := range issues {
					if i.Message == "" {
						t.Fatalf("empty message for %q", expr)
					}
				}
				if p == nil || kind != KindAny {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = p.Eval(ctx, act) //nolint:errcheck // an evaluation error is a valid outcome for fuzzed input; the test is that it does not panic or hang
				cancel()
			}
		}
	})
}
