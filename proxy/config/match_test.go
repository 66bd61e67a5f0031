package config

import "testing"

func TestHTTPRouteMatchString(t *testing.T) {
	for _, tc := range []struct {
		m    HTTPRouteMatch
		want string
	}{
		{HTTPRouteMatch{}, "PathPrefix /"},
		{HTTPRouteMatch{Path: &PathMatch{Value: "/api"}}, "PathPrefix /api"},
		{HTTPRouteMatch{
			Path:        &PathMatch{Type: PathMatchExact, Value: "/x"},
			Method:      "GET",
			Headers:     []HeaderMatch{{Name: "X-Env", Value: "canary"}, {Name: "x-v", Type: MatchRegularExpression, Value: "^2"}},
			QueryParams: []QueryParamMatch{{Name: "a", Value: "1"}, {Name: "b", Type: MatchRegularExpression, Value: ".*"}},
		}, "Exact /x, method GET, header X-Env=canary, header x-v~^2, query a=1, query b~.*"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.m, got, tc.want)
		}
	}
}
