package cel

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func fmtIssue(i Issue) string {
	if i.Severity == SeverityWarning {
		return "warning: " + i.String()
	}
	return i.String()
}

type checkCase struct {
	phase Phase
	kind  Kind
	expr  string
	// want is every issue, formatted by fmtIssue; nil means valid and clean.
	want []string
}

// checkCases are expressions with the exact issues Check must report.
// Cases without an error (want nil or warnings only) must compile.
var checkCases = []checkCase{
	{PhaseRequestHeaders, KindCondition, `request.method == "GET"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.path.startsWith("/api/")`, nil},
	{PhaseRequestHeaders, KindCondition, `request.host == "example.com"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.scheme == "https"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.uri.contains("?debug")`, nil},
	{PhaseRequestHeaders, KindCondition, `request.protocol == "HTTP/2.0"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers["x-user"] == "alice"`, nil},
	{PhaseRequestHeaders, KindCondition, `"x-user" in request.headers`, nil},
	{PhaseRequestHeaders, KindCondition, `has(request.headers.authorization)`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers[?"x-tenant"].orValue("none") == "none"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.query["page"] == "2"`, nil},
	{PhaseRequestHeaders, KindCondition, `request.query.exists(k, k.startsWith("utm_"))`, nil},
	{PhaseRequestHeaders, KindCondition, `request.path.matches("^/v[0-9]+/")`, nil},
	{PhaseRequestHeaders, KindCondition, `request.method in ["GET", "HEAD"]`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers.size() < 50`, nil},
	{PhaseRequestHeaders, KindCondition, `source.address == "10.0.0.1"`, nil},
	{PhaseRequestHeaders, KindCondition, `source.port > 1024`, nil},
	{PhaseRequestHeaders, KindCondition, `cidr("10.0.0.0/8").containsIP(ip(source.address))`, nil},
	{PhaseRequestHeaders, KindCondition, `source.identity.startsWith("spiffe://cluster.local/")`, nil},
	{PhaseRequestHeaders, KindCondition, `"spiffe://cluster.local/ns/a/sa/b" in source.sans`, nil},
	{PhaseRequestHeaders, KindCondition, `jwt.sub == "alice"`, nil},
	{PhaseRequestHeaders, KindCondition, `jwt.iss == "https://issuer.example.com"`, nil},
	{PhaseRequestHeaders, KindCondition, `"api" in jwt.aud`, nil},
	{PhaseRequestHeaders, KindCondition, `has(jwt.sub)`, nil},
	{PhaseRequestHeaders, KindCondition, `jwt.claims.groups.exists(g, g == "admin")`, nil},
	{PhaseRequestHeaders, KindCondition, `jwt.claims.realm_access.roles.exists(r, r == "admin")`, nil},
	{PhaseRequestHeaders, KindCondition, `apiKey.name == "ci"`, nil},
	{PhaseRequestHeaders, KindCondition, `apiKey.metadata["team"] == "payments"`, nil},
	{PhaseRequestHeaders, KindCondition, `backend.name == "payments" && backend.protocol == "http2"`, nil},
	{PhaseRequestHeaders, KindCondition, `extauthz.headers["x-authz-user"] != ""`, nil},
	{PhaseRequestHeaders, KindCondition, `extauthz.metadata.tier == "gold"`, nil},
	{PhaseRequestHeaders, KindCondition, `random() < 0.1`, nil},
	{PhaseRequestHeaders, KindCondition, `request.path.lowerAscii().endsWith(".json")`, nil},
	{PhaseRequestHeaders, KindCondition, `sets.contains(["GET", "HEAD", "POST"], [request.method])`, nil},
	{PhaseRequestHeaders, KindCondition, `math.greatest(1, 2) == 2`, nil},
	{PhaseRequestHeaders, KindCondition, `cel.bind(p, request.path, p == "/" || p == "/index.html")`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers.all(k, v, k.size() < 64 && v.size() < 1024)`, nil},
	{PhaseRequestHeaders, KindCondition, `timestamp("2030-01-01T00:00:00Z") > timestamp("2020-01-01T00:00:00Z")`, nil},
	{PhaseRequestHeaders, KindCondition, `duration("1h") > duration("30m")`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `request.headers["x-user"]`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `"Bearer " + request.headers["x-token"]`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `request.path.upper()`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `sha256(request.headers["x-api-key"])`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `base64.encode(bytes(jwt.sub))`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `string(base64.decode(request.headers["x-b64"]))`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `regex.replace(request.path, "^/api", "")`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `uuid()`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `string(source.port)`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `"%s:%d".format([source.address, source.port])`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `toJson({"sub": jwt.sub, "path": request.path})`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `jwt.aud.join(",")`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `request.headers[?"x-tenant"].orValue("default")`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `jwt.claims.sub`, []string{"warning: expression type is dyn; it must evaluate to string at run time for a header value"}},
	{PhaseRequestHeaders, KindHeaderValue, `string(jwt.claims.sub)`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `request.method == "GET" ? "read" : "write"`, nil},
	{PhaseRequestHeaders, KindAny, `request.headers`, nil},
	{PhaseRequestHeaders, KindAny, `[request.method, request.path]`, nil},
	{PhaseRequestBody, KindBody, `request.body`, nil},
	{PhaseRequestBody, KindBody, `toJson(jsonParse(request.body))`, nil},
	{PhaseRequestBody, KindBody, `string(request.body).replace("foo", "bar")`, nil},
	{PhaseRequestBody, KindCondition, `jsonParse(request.body).model == "gpt-4"`, nil},
	{PhaseRequestBody, KindCondition, `request.body.size() < 1024`, nil},
	{PhaseRequestBody, KindHeaderValue, `sha256(request.body)`, nil},
	{PhaseResponse, KindCondition, `response.code >= 500`, nil},
	{PhaseResponse, KindHeaderValue, `string(response.code)`, nil},
	{PhaseResponse, KindHeaderValue, `response.headers["content-type"]`, nil},
	{PhaseResponse, KindBody, `response.body`, nil},
	{PhaseResponse, KindBody, `toJson({"code": response.code, "error": string(response.body)})`, nil},
	{PhaseAccessLog, KindAny, `request.path`, nil},
	{PhaseAccessLog, KindAny, `response.code`, nil},
	{PhaseAccessLog, KindAny, `{"method": request.method, "code": response.code}`, nil},
	{PhaseAuthorization, KindCondition, `jwt.claims.groups.exists(g, g == "admin") && request.method in ["GET", "HEAD"] && request.path.startsWith("/api/")`, nil},
	{PhaseAuthorization, KindCondition, `extauthz.headers["x-allowed"] == "true"`, nil},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `request.headers["x-tenant"]`, nil},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `jwt.sub + ":" + request.path`, nil},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `source.address`, nil},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `uuid()`, []string{"warning: 1:5: uuid() returns a new value on every call, so this rate-limit key never repeats"}},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `"k-" + string(random())`, []string{"warning: 1:21: random() returns a new value on every call, so this rate-limit key never repeats"}},
	{PhaseRequestHeaders, KindCondition, `request.method ==`, []string{"1:18: syntax error: unexpected end of expression"}},
	{PhaseRequestHeaders, KindCondition, `request.method == "GET" &&`, []string{"1:27: syntax error: unexpected end of expression"}},
	{PhaseRequestHeaders, KindCondition, `request.method == "GET")`, []string{"1:24: syntax error: unexpected ')'"}},
	{PhaseRequestHeaders, KindCondition, `request.method == "GET" && (true`, []string{"1:33: syntax error: missing ')' at end of expression"}},
	{PhaseRequestHeaders, KindCondition, `request.method in ["GET"`, []string{"1:25: syntax error: unexpected end of expression"}},
	{PhaseRequestHeaders, KindCondition, `request.headers["a"`, []string{"1:20: syntax error: missing ']' at end of expression"}},
	{PhaseRequestHeaders, KindCondition, `request.method.`, []string{"1:16: syntax error: unexpected '.'"}},
	{PhaseRequestHeaders, KindCondition, `@foo`, []string{"1:1: syntax error: unexpected character '@'"}},
	{PhaseRequestHeaders, KindCondition, `request.method == "GET" # comment`, []string{"1:25: syntax error: unexpected character '#'"}},
	{PhaseRequestHeaders, KindCondition, `request.method = "GET"`, []string{"1:16: syntax error: unexpected character '='"}},
	{PhaseRequestHeaders, KindCondition, `request.method == 'GET`, []string{"1:19: syntax error: unterminated string literal"}},
	{PhaseRequestHeaders, KindCondition, `1 2`, []string{"1:3: syntax error: unexpected '2'"}},
	{PhaseRequestHeaders, KindCondition, `if request.method == "GET" then true else false`, []string{"1:1: reserved identifier: if"}},
	{PhaseRequestHeaders, KindCondition, `request.method === "GET"`, []string{"1:18: syntax error: unexpected character '='"}},
	{PhaseRequestHeaders, KindCondition, `{"a": }`, []string{"1:7: syntax error: unexpected '}'"}},
	{PhaseRequestHeaders, KindCondition, `request..method`, []string{"1:9: syntax error: unexpected '..'"}},
	{PhaseRequestHeaders, KindCondition, ``, []string{"expression is empty"}},
	{PhaseRequestHeaders, KindCondition, `   `, []string{"expression is empty"}},
	{PhaseRequestHeaders, KindCondition, `requst.method == "GET"`, []string{"1:1: undeclared reference to 'requst' (did you mean 'request'?)"}},
	{PhaseRequestHeaders, KindCondition, `Request.method == "GET"`, []string{"1:1: undeclared reference to 'Request' (did you mean 'request'?)"}},
	{PhaseRequestHeaders, KindCondition, `req.method == "GET"`, []string{"1:1: undeclared reference to 'req' (variables: request, source, jwt, apiKey, extauthz, backend)"}},
	{PhaseRequestHeaders, KindCondition, `headers["x"] == "y"`, []string{"1:1: undeclared reference to 'headers' (variables: request, source, jwt, apiKey, extauthz, backend)"}},
	{PhaseRequestHeaders, KindCondition, `foo == 1`, []string{"1:1: undeclared reference to 'foo' (variables: request, source, jwt, apiKey, extauthz, backend)"}},
	{PhaseRequestHeaders, KindCondition, `request.hedaers["x"] == "a"`, []string{"1:8: undefined field 'hedaers' of request (did you mean 'request.headers'?)"}},
	{PhaseRequestHeaders, KindCondition, `request.Method == "GET"`, []string{"1:8: undefined field 'Method' of request (did you mean 'request.method'?)"}},
	{PhaseRequestHeaders, KindCondition, `request.methd == "GET"`, []string{"1:8: undefined field 'methd' of request (did you mean 'request.method'?)"}},
	{PhaseRequestHeaders, KindCondition, `request.cookies["a"] == "b"`, []string{"1:8: undefined field 'cookies' of request (fields: headers, host, method, path, protocol, query, scheme, uri)"}},
	{PhaseRequestHeaders, KindCondition, `source.ip == "1.2.3.4"`, []string{"1:7: undefined field 'ip' of source (fields: address, identity, port, sans)"}},
	{PhaseRequestHeaders, KindCondition, `jwt.subject == "a"`, []string{"1:4: undefined field 'subject' of jwt (fields: aud, claims, iss, sub)"}},
	{PhaseRequestHeaders, KindCondition, `apiKey.nmae == "a"`, []string{"1:7: undefined field 'nmae' of apiKey (did you mean 'apiKey.name'?)"}}, //nolint:misspell // the typo is the input under test
	{PhaseRequestHeaders, KindCondition, `backend.namespace == "a"`, []string{"1:8: undefined field 'namespace' of backend (fields: name, protocol)"}},
	{PhaseRequestHeaders, KindCondition, `response.code == 200`, []string{"1:1: 'response' is not available in phase RequestHeaders (only in Response or AccessLog)"}},
	{PhaseAuthorization, KindCondition, `backend.name == "a"`, []string{"1:1: 'backend' is not available in phase Authorization (only in RequestHeaders, RequestBody, Response or AccessLog)"}},
	{PhaseRequestHeaders, KindBody, `request.body`, []string{"1:8: request.body is not available in phase RequestHeaders (only in RequestBody)"}},
	{PhaseAccessLog, KindAny, `response.body`, []string{"1:9: response.body is not available in phase AccessLog (only in Response)"}},
	{PhaseResponse, KindCondition, `request.body.size() > 0`, []string{"1:8: request.body is not available in phase Response (only in RequestBody)"}},
	{PhaseRequestHeaders, KindHeaderValue, `foo(request.path)`, []string{"1:4: undeclared function 'foo'"}},
	{PhaseRequestHeaders, KindHeaderValue, `request.path.lowr()`, []string{"1:18: undeclared function 'lowr' (did you mean 'lower'?)"}},
	{PhaseRequestHeaders, KindHeaderValue, `sha265(request.path)`, []string{"1:7: undeclared function 'sha265' (did you mean 'sha256'?)"}},
	{PhaseRequestHeaders, KindHeaderValue, `jsonparse(request.path)`, []string{"1:10: undeclared function 'jsonparse' (did you mean 'jsonParse'?)"}},
	{PhaseRequestHeaders, KindCondition, `request.path.size() > "a"`, []string{"1:21: operator '>' cannot be applied to (int, string)"}},
	{PhaseRequestHeaders, KindCondition, `size(1)`, []string{"1:5: function 'size' cannot be applied to (int)"}},
	{PhaseRequestHeaders, KindCondition, `!request.path`, []string{"1:1: operator '!' cannot be applied to (string)"}},
	{PhaseRequestHeaders, KindCondition, `-request.path == 1`, []string{"1:1: operator '-' cannot be applied to (string)"}},
	{PhaseRequestHeaders, KindCondition, `request.path.startsWith(1)`, []string{"1:24: function 'startsWith' cannot be applied to (int) on string; it takes (string) on string"}},
	{PhaseRequestHeaders, KindCondition, `request.headers["a"] == 1`, []string{"1:22: operator '==' cannot be applied to (string, int)"}},
	{PhaseRequestHeaders, KindHeaderValue, `request.path + 1`, []string{"1:14: operator '+' cannot be applied to (string, int)"}},
	{PhaseRequestHeaders, KindHeaderValue, `sha256(1)`, []string{"1:7: function 'sha256' cannot be applied to (int); it takes (string) or (bytes)"}},
	{PhaseRequestHeaders, KindCondition, `request.path`, []string{"expression must return bool for a condition, got string"}},
	{PhaseRequestHeaders, KindCondition, `request.headers`, []string{"expression must return bool for a condition, got map(string, string)"}},
	{PhaseRequestHeaders, KindCondition, `null`, []string{"expression must return bool for a condition, got null_type"}},
	{PhaseRequestHeaders, KindCondition, `response`, []string{"1:1: 'response' is not available in phase RequestHeaders (only in Response or AccessLog)"}},
	{PhaseRequestHeaders, KindCondition, `jwt.aud`, []string{"expression must return bool for a condition, got list(string)"}},
	{PhaseRequestHeaders, KindHeaderValue, `1`, []string{"expression must return string for a header value, got int; convert it with string(...)"}},
	{PhaseRequestHeaders, KindHeaderValue, `source.port`, []string{"expression must return string for a header value, got int; convert it with string(...)"}},
	{PhaseRequestHeaders, KindHeaderValue, `request.method == "GET"`, []string{"expression must return string for a header value, got bool; convert it with string(...)"}},
	{PhaseRequestHeaders, KindHeaderValue, `request.headers`, []string{"expression must return string for a header value, got map(string, string); convert it with string(...)"}},
	{PhaseRequestHeaders, KindHeaderValue, `request`, []string{"expression must return string for a header value, got agw.Request"}},
	{PhaseRequestHeaders, KindHeaderValue, `bytes("a")`, []string{"expression must return string for a header value, got bytes; convert it with string(...)"}},
	{PhaseRequestBody, KindBody, `1`, []string{"expression must return string or bytes for a body, got int"}},
	{PhaseRequestBody, KindBody, `request.body.size()`, []string{"expression must return string or bytes for a body, got int"}},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `source.port`, []string{"expression must return string for a rate-limit key, got int; convert it with string(...)"}},
	{PhaseRateLimitDescriptor, KindRateLimitKey, `request.headers.size() > 0`, []string{"expression must return string for a rate-limit key, got bool; convert it with string(...)"}},
	{PhaseRequestHeaders, KindCondition, `request.path.matches("[a")`, []string{"1:22: invalid regular expression \"[a\": missing closing ]"}},
	{PhaseRequestHeaders, KindCondition, `matches(request.path, "a(b")`, []string{"1:23: invalid regular expression \"a(b\": missing closing )"}},
	{PhaseRequestHeaders, KindCondition, `request.path.matches("x{2,1}")`, []string{"1:22: invalid regular expression \"x{2,1}\": invalid repeat count in \"{2,1}\""}},
	{PhaseRequestHeaders, KindHeaderValue, `regex.replace(request.path, "(", "x")`, []string{"1:29: invalid regular expression \"(\": missing closing )"}},
	{PhaseRequestHeaders, KindCondition, `regex.extract(request.path, "*a").hasValue()`, []string{"1:29: invalid regular expression \"*a\": missing argument to repetition operator in \"*\""}},
	{PhaseRequestHeaders, KindCondition, `regex.extractAll(request.path, "[[:foo:]]").size() > 0`, []string{"1:32: invalid regular expression \"[[:foo:]]\": invalid character class range in \"[:foo:]\""}},
	{PhaseRequestHeaders, KindCondition, `request.path.matches("\\p{Foo}")`, []string{"1:22: invalid regular expression \"\\\\p{Foo}\": invalid character class range"}},
	{PhaseRequestHeaders, KindCondition, `timestamp("bad") < timestamp("2020-01-01T00:00:00Z")`, []string{"1:11: invalid timestamp \"bad\": want RFC 3339, like \"2025-01-02T15:04:05Z\""}},
	{PhaseRequestHeaders, KindCondition, `duration("1x") > duration("1s")`, []string{"1:10: invalid duration \"1x\": want a number and a unit (h, m, s, ms, us, ns), like \"1.5s\""}},
	{PhaseRequestHeaders, KindCondition, `[1, "a"].size() > 0`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers.all(a, request.headers.all(b, a != b))`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers.all(a, request.headers.all(b, request.headers.all(c, a != b)))`, []string{"expression too expensive (estimated cost 65110787 exceeds limit 1000000); avoid nested loops (all, exists, map, filter) over headers, query or claims"}},
	{PhaseRequestHeaders, KindCondition, `request.headers.exists(a, request.headers[a].contains("x"))`, nil},
	{PhaseRequestHeaders, KindCondition, `request.query.all(a, request.query.all(b, request.query[a] != request.query[b]))`, nil},
	{PhaseRequestHeaders, KindCondition, `jwt.claims.all(a, jwt.claims.all(b, jwt.claims.all(c, a != b)))`, []string{"expression too expensive (estimated cost 8151427 exceeds limit 1000000); avoid nested loops (all, exists, map, filter) over headers, query or claims"}},
	{PhaseRequestHeaders, KindCondition, `lists.range(100000000).size() > 0`, []string{"expression too expensive (estimated cost 100000013 exceeds limit 1000000)"}},
	{PhaseRequestBody, KindCondition, `string(request.body).matches("(a+)+b(c|d)*e[a-z]{1,5}f")`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers.map(k, request.headers.map(j, k + j)).size() > 0`, []string{"expression too expensive (estimated cost 1084559 exceeds limit 1000000); avoid nested loops (all, exists, map, filter) over headers, query or claims"}},
	{PhaseResponse, KindCondition, `response.headers.exists(a, response.headers.exists(b, response.headers[a] == response.headers[b]))`, []string{"expression too expensive (estimated cost 13632387 exceeds limit 1000000); avoid nested loops (all, exists, map, filter) over headers, query or claims"}},
	{PhaseRequestHeaders, KindCondition, `request.headers.filter(k, request.headers.exists(j, j == k)).size() > 0`, nil},
	{PhaseRequestHeaders, KindCondition, `cel.bind(h, request.headers, h.size() > 2)`, nil},
	{Phase("Bogus"), KindCondition, `true`, []string{"unknown phase \"Bogus\""}},
	{PhaseRequestHeaders, Kind("Bogus"), `true`, []string{"unknown field kind \"Bogus\""}},
	{PhaseRequestHeaders, KindCondition, `true`, nil},
	{PhaseRequestHeaders, KindAny, `1 / 0`, nil},
	{PhaseRequestHeaders, KindCondition, `request.headers["x"].matches(request.headers["y"])`, []string{"warning: 1:45: the pattern of matches() is computed at run time, so it is compiled on every evaluation and cannot be checked now", "expression too expensive (estimated cost 1679366 exceeds limit 1000000)"}},
	{PhaseRequestHeaders, KindCondition, `request.path.matches("(?i)^/API")`, nil},
	{PhaseRequestHeaders, KindCondition, `has(request.body)`, []string{"1:4: request.body is not available in phase RequestHeaders (only in RequestBody)"}},
	{PhaseRequestHeaders, KindCondition, `request.method == "GET" && requst.path == "/" && request.hedaers.size() > 0`, []string{"1:28: undeclared reference to 'requst' (did you mean 'request'?)", "1:57: undefined field 'hedaers' of request (did you mean 'request.headers'?)"}},
	{PhaseRequestHeaders, KindCondition, `source.sans.exists(s, s.endsWith(".internal"))`, nil},
	{PhaseRequestBody, KindCondition, `jsonParse(request.body).messages.exists(m, m.role == "system")`, nil},
	{PhaseResponse, KindCondition, `response.headers.exists(k, k.startsWith("x-"))`, nil},
	{PhaseAccessLog, KindAny, `toJson(jwt.claims)`, nil},
	{PhaseRequestHeaders, KindHeaderValue, `request.headers.x_forwarded_for.split(",")[0].trim()`, nil},
	{PhaseRequestHeaders, KindCondition, `int(request.query["limit"]) <= 100`, nil},
	{PhaseRequestHeaders, KindCondition, `request.query["limit"] <= 100`, []string{"1:24: operator '<=' cannot be applied to (string, int)"}},
	{PhaseRequestHeaders, KindCondition, `request.headers["host"] == "a"`, []string{"warning: 1:16: headers never contain \"host\"; use request.host"}},
	{PhaseRequestHeaders, KindCondition, `request.headers.host == "a"`, []string{"warning: 1:16: headers never contain \"host\"; use request.host"}},
	{PhaseResponse, KindCondition, `response.headers[":path"] == "/"`, []string{"warning: 1:17: headers never contain \":path\"; use request.path"}},
	{PhaseRequestHeaders, KindHeaderValue, `request.headers[?"Host"].orValue("")`, []string{"warning: 1:16: headers never contain \"Host\"; use request.host"}},
	{PhaseRequestHeaders, KindCondition, `request.path.matches(request.headers["x-re"])`, []string{"warning: 1:37: the pattern of matches() is computed at run time, so it is compiled on every evaluation and cannot be checked now", "expression too expensive (estimated cost 1679365 exceeds limit 1000000)"}},
	{PhaseRequestHeaders, KindCondition, `"é" == requst.method`, []string{"1:8: undeclared reference to 'requst' (did you mean 'request'?)"}},
}

func TestCheckTable(t *testing.T) {
	cases := append(slices.Clone(checkCases), extraCases()...)
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	valid, invalid := 0, 0
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/%s", tc.phase, tc.kind, tc.expr)
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			p, issues := Check(tc.phase, tc.kind, tc.expr)
			var got []string
			for _, i := range issues {
				got = append(got, fmtIssue(i))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Check(%s, %s, %q)\n got: %q\nwant: %q", tc.phase, tc.kind, tc.expr, got, tc.want)
			}
			if HasErrors(issues) != (p == nil) {
				t.Errorf("program returned = %v, but errors = %v", p != nil, HasErrors(issues))
			}
		})
		if HasErrors(issuesOf(tc)) {
			invalid++
		} else {
			valid++
		}
	}
	t.Logf("%d cases: %d valid, %d invalid", len(cases), valid, invalid)
}

func issuesOf(tc checkCase) []Issue {
	_, is := Check(tc.phase, tc.kind, tc.expr)
	return is
}

// extraCases are cases that do not fit on one line of the table.
func extraCases() []checkCase {
	atLimit := `request.path == "` + strings.Repeat("a", 4096-len(`request.path == ""`)) + `"`
	return []checkCase{
		{PhaseRequestHeaders, KindCondition, atLimit, nil},
		{PhaseRequestHeaders, KindCondition, atLimit + " ", []string{"expression too long (4097 characters, limit 4096)"}},
		{PhaseRequestHeaders, KindCondition, strings.Repeat("true && ", 1000) + "true", []string{"expression too long (8004 characters, limit 4096)"}},
		// Characters, not bytes: 4096 two-byte runes is within the limit.
		{PhaseRequestHeaders, KindHeaderValue, `"` + strings.Repeat("é", 4094) + `"`, nil},
		// Positions on later lines.
		{PhaseRequestHeaders, KindCondition, "request.method == \"GET\" &&\n  request.hedaers.size() > 0", []string{"2:10: undefined field 'hedaers' of request (did you mean 'request.headers'?)"}},
		{PhaseRequestHeaders, KindCondition, "request.method == \"GET\"\n&& \n", []string{"3:1: syntax error: unexpected end of expression"}},
	}
}

func TestCheckWithLimits(t *testing.T) {
	_, issues := CheckWithLimits(PhaseRequestHeaders, KindCondition, `request.path.contains("x")`, Limits{MaxLength: 10, MaxCost: 10})
	want := []string{"expression too long (26 characters, limit 10)"}
	if got := issuesStrings(issues); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	_, issues = CheckWithLimits(PhaseRequestHeaders, KindCondition, `request.path.contains("x")`, Limits{MaxLength: 100, MaxCost: 10})
	want = []string{"expression too expensive (estimated cost 822 exceeds limit 10)"}
	if got := issuesStrings(issues); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func issuesStrings(is []Issue) []string {
	var out []string
	for _, i := range is {
		out = append(out, fmtIssue(i))
	}
	return out
}

func TestCompile(t *testing.T) {
	if _, err := Compile(PhaseRequestHeaders, KindCondition, `request.method == "GET"`); err != nil {
		t.Fatal(err)
	}
	_, err := Compile(PhaseRequestHeaders, KindCondition, `requst.method == 1 && request.hedaers.size() > 0`)
	want := "1:1: undeclared reference to 'requst' (did you mean 'request'?); 1:30: undefined field 'hedaers' of request (did you mean 'request.headers'?)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// Warnings do not fail Compile.
	if _, err := Compile(PhaseRateLimitDescriptor, KindRateLimitKey, `uuid()`); err != nil {
		t.Errorf("warning made Compile fail: %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"hedaers", "headers", 1}, {"", "abc", 3}, {"abc", "abc", 0}, {"methd", "method", 1}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestDocCoversVariables keeps doc.go, the user-facing reference, in sync
// with the declared fields and phases.
func TestDocCoversVariables(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for v, typ := range varTypes {
		names, _ := newProvider(nil, true, true).FindStructFieldNames(typ.TypeName())
		for _, f := range names {
			if !strings.Contains(text, v+"."+f) {
				t.Errorf("doc.go does not document %s.%s", v, f)
			}
		}
	}
	for _, p := range Phases() {
		if !strings.Contains(text, string(p)) {
			t.Errorf("doc.go does not document phase %s", p)
		}
	}
	for _, f := range []string{fnSHA256, fnUUID, fnRandom, fnJSONParse, fnToJSON, fnLower, fnUpper} {
		if !strings.Contains(text, f+"(") {
			t.Errorf("doc.go does not document function %s", f)
		}
	}
}

// TestConcurrentCheck: the webhook checks policies in parallel.
func TestConcurrentCheck(t *testing.T) {
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < len(checkCases); i += 4 {
				tc := checkCases[i]
				_, issues := Check(tc.phase, tc.kind, tc.expr)
				if got := issuesStrings(issues); !slices.Equal(got, tc.want) {
					t.Errorf("%q: got %q", tc.expr, got)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
