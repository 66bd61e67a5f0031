package extauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func header(key, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}, AppendAction: action}
}

func TestApplyHeaderOptions(t *testing.T) {
	h := http.Header{"X-A": {"1"}, "X-B": {"1"}}
	applyHeaderOptions(h, []*corev3.HeaderValueOption{
		header("x-a", "2", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
		header("x-b", "2", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),
		header("x-c", "2", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),
		header("x-d", "2", corev3.HeaderValueOption_ADD_IF_ABSENT),
		{Header: &corev3.HeaderValue{Key: "x-e", RawValue: []byte("raw")}},
		{Header: &corev3.HeaderValue{Key: "x-a", Value: "3"}, Append: wrapperspb.Bool(true)},
		header("x-bad", "line\nbreak", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
		header("bad name", "v", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
		header("content-length", "5", corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD),
	})
	want := http.Header{"X-A": {"1", "2", "3"}, "X-B": {"2"}, "X-D": {"2"}, "X-E": {"raw"}}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", h, want)
	}
}

// TestDenyGRPCClient: a gRPC client cannot read an HTTP error, so a denial
// reaches it as a gRPC status (trailers-only), with the service's headers.
func TestDenyGRPCClient(t *testing.T) {
	r := httptest.NewRequest("POST", "/pkg.Svc/Method", nil)
	r.ProtoMajor, r.Proto = 2, "HTTP/2.0"
	r.Header.Set("Content-Type", "application/grpc")
	w := httptest.NewRecorder()
	deny(w, r, &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
		Headers: []*corev3.HeaderValueOption{header("x-reason", "expired", corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)},
		Body:    "token expired",
	})
	h := w.Result().Header
	if w.Code != 200 || h.Get("Grpc-Status") != "16" || h.Get("Grpc-Message") != "token expired" || h.Get("X-Reason") != "expired" {
		t.Errorf("got %d %v", w.Code, h)
	}
}
