package cel

import (
	"context"
	"net/http/httptest"
	"testing"
)

func benchEval(b *testing.B, phase Phase, kind Kind, expr string, eval func(*Program, *Activation) error) {
	p := mustCompile(b, phase, kind, expr)
	r := httptest.NewRequest("GET", "https://api.example.com/api/v1/orders?page=2", nil)
	r.Header.Set("X-User", "alice")
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("Authorization", "Bearer xyz")
	r.Header.Set("Accept", "application/json")
	claims := map[string]any{"sub": "alice", "iss": "https://idp", "groups": []any{"dev", "admin"}}
	b.ReportAllocs()
	for b.Loop() {
		// What the proxy does per request: build the activation, evaluate.
		act := &Activation{Request: RequestFromHTTP(r), JWT: NewJWT(claims)}
		if err := eval(p, act); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderTransformation(b *testing.B) {
	benchEval(b, PhaseRequestHeaders, KindHeaderValue,
		`request.headers["x-tenant"] + "/" + jwt.sub + "/" + request.path.lowerAscii()`,
		func(p *Program, act *Activation) error {
			s, err := p.EvalString(context.Background(), act)
			if err == nil && s != "acme/alice//api/v1/orders" {
				b.Fatalf("got %q", s)
			}
			return err
		})
}

func BenchmarkAuthorizationRule(b *testing.B) {
	benchEval(b, PhaseAuthorization, KindCondition,
		`jwt.claims.groups.exists(g, g == "admin") && request.method in ["GET", "HEAD"] && request.path.startsWith("/api/")`,
		func(p *Program, act *Activation) error {
			ok, err := p.EvalBool(context.Background(), act)
			if err == nil && !ok {
				b.Fatal("denied")
			}
			return err
		})
}

func BenchmarkRateLimitKey(b *testing.B) {
	benchEval(b, PhaseRateLimitDescriptor, KindRateLimitKey, `request.headers[?"x-tenant"].orValue("anonymous")`,
		func(p *Program, act *Activation) error {
			_, err := p.EvalString(context.Background(), act)
			return err
		})
}

func BenchmarkCheck(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if p, issues := Check(PhaseAuthorization, KindCondition, `jwt.claims.groups.exists(g, g == "admin") && request.path.startsWith("/api/")`); p == nil {
			b.Fatal(issues)
		}
	}
}
