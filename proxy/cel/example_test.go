package cel_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
)

// A validator reports every issue with its position.
func ExampleCheck() {
	_, issues := cel.Check(cel.PhaseRequestHeaders, cel.KindHeaderValue, `request.hedaers["x-user"] + jwt.sub`)
	for _, i := range issues {
		fmt.Println(i)
	}
	_, issues = cel.Check(cel.PhaseRequestHeaders, cel.KindHeaderValue, `source.port`)
	for _, i := range issues {
		fmt.Println(i)
	}
	// Output:
	// 1:8: undefined field 'hedaers' of request (did you mean 'request.headers'?)
	// expression must return string for a header value, got int; convert it with string(...)
}

// The proxy compiles once and evaluates per request.
func ExampleProgram_EvalString() {
	p, err := cel.Compile(cel.PhaseRequestHeaders, cel.KindHeaderValue, `request.headers["x-tenant"] + "/" + jwt.sub`)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("X-Tenant", "acme")
	act := &cel.Activation{
		Request: cel.RequestFromHTTP(r),
		Source:  cel.SourceFromHTTP(r),
		JWT:     cel.NewJWT(map[string]any{"sub": "alice"}),
	}
	v, err := p.EvalString(context.Background(), act)
	fmt.Println(v, err)
	// Output: acme/alice <nil>
}
