package translate

import "testing"

// TestAuthPathPrefix covers the sanitizing of an ExternalAuth http.path: the proxy prepends
// the result to the request path, so it must be a clean absolute path without dot segments.
func TestAuthPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: ""},
		{in: "/", want: ""},
		{in: "auth", want: "/auth"},
		{in: "/auth/", want: "/auth"},
		{in: "//auth//check/", want: "/auth/check"},
		{in: "/a%20b/%7Euser", want: "/a b/~user"},
		{in: "/auth/../admin", bad: true},
		{in: "/auth/%2e%2e/admin", bad: true},
		{in: "./auth", bad: true},
		{in: "/auth%00", bad: true},
		{in: "/auth%zz", bad: true},
	} {
		got, err := authPathPrefix(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("authPathPrefix(%q) = %q, want an error", tc.in, got)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("authPathPrefix(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
