// Package cel owns the CEL environment of agentgateway: the variables each
// phase of a request declares, their types, our functions, what each kind
// of field must return, and the cost limits. The admission webhook, the
// operator's translator and the proxy all check expressions with this one
// package, so an expression that passes admission type-checks identically
// in the proxy. It depends on github.com/google/cel-go only.
//
// # Using it
//
// Validators call [Check] with the phase and [Kind] of the field and report
// every [Issue] (errors reject, warnings are advisory). The proxy calls
// [Compile] once per configured expression and, per request, fills an
// [Activation] (with [RequestFromHTTP], [SourceFromHTTP], [NewJWT], ...) and
// calls [Program.EvalBool], [Program.EvalString], [Program.EvalBytes] or
// [Program.Eval]. Programs are safe for concurrent use.
//
// # Phases and variables
//
// A request meets the phases in this order: the tracing decision (Tracing,
// on arrival, before routing), authentication (JWT, API key,
// basic) and external authorization, then Authorization rules, rate-limit
// descriptors, request transformation (RequestHeaders, then RequestBody),
// the backend, response transformation (Response) and the access log.
// MCPAuthorization runs inside an MCP backend, once per MCP operation.
// Each phase declares the variables known by then:
//
//	phase                request  request.body  response  response.body  source  jwt  apiKey  extauthz  backend  mcp
//	Tracing              yes      -             -         -              yes     -    -       -         -        -
//	Authorization        yes      -             -         -              yes     yes  yes     yes       -        -
//	RateLimitDescriptor  yes      -             -         -              yes     yes  yes     yes       -        -
//	RequestHeaders       yes      -             -         -              yes     yes  yes     yes       yes      -
//	RequestBody          yes      yes           -         -              yes     yes  yes     yes       yes      -
//	Response             yes      -             yes       yes            yes     yes  yes     yes       yes      -
//	AccessLog            yes      -             yes       -              yes     yes  yes     yes       yes      -
//	MCPAuthorization     yes      -             -         -              yes     yes  yes     yes       -        yes
//
// Using a variable outside its phases is an error at admission, e.g.
// "'response' is not available in phase RequestHeaders (only in Response or
// AccessLog)". A variable that is declared but has no value on a given
// request (no JWT, no API key, no ext-authz call) reads as empty: empty
// strings, lists and maps, zero numbers; has() on its fields is false.
//
// # Variable reference
//
// request (agw.Request):
//
//	request.method    string               "GET", "POST", ...
//	request.path      string               URL path as sent (percent-encoding kept), without the query
//	request.host      string               Host / :authority, lowercased, without the port
//	request.scheme    string               "http" or "https"
//	request.uri       string               path and query as sent, e.g. "/a/b?x=1"
//	request.protocol  string               "HTTP/1.1", "HTTP/2.0" or "HTTP/3.0"
//	request.headers   map(string, string)  keys lowercased, lookups case-insensitive; repeated
//	                                       headers joined with ", ". The Host header is request.host.
//	request.query     map(string, string)  first value of each query parameter; keys case-sensitive
//	request.body      bytes                buffered body (phase RequestBody only); string(request.body)
//	                                       to read it as text, jsonParse(request.body) to decode JSON
//
// response (agw.Response):
//
//	response.code     int                  HTTP status code
//	response.headers  map(string, string)  as request.headers
//	response.body     bytes                buffered body (phase Response only)
//
// source (agw.Source), the downstream peer:
//
//	source.address    string               IP address, without the port
//	source.port       int
//	source.identity   string               verified client certificate: first URI SAN (SPIFFE ID),
//	                                       else subject common name; "" without mTLS
//	source.sans       list(string)         all SANs of the verified client certificate
//
// jwt (agw.JWT), the verified token:
//
//	jwt.claims        map(string, dyn)     all claims, e.g. jwt.claims.groups, jwt.claims["realm_access"].roles
//	jwt.sub           string               the sub claim
//	jwt.iss           string               the iss claim
//	jwt.aud           list(string)         the aud claim (a single string becomes a one-element list)
//
// apiKey (agw.APIKey):
//
//	apiKey.name       string               name of the matched key
//	apiKey.metadata   map(string, string)  metadata stored with the key
//
// backend (agw.Backend):
//
//	backend.name      string               the selected backend
//	backend.protocol  string               "http", "http2", "grpc", "tcp", ...
//
// extauthz (agw.ExtAuthz), what the external authorization server returned:
//
//	extauthz.headers  map(string, string)  headers it returned, as request.headers
//	extauthz.metadata map(string, dyn)     dynamic metadata it returned
//
// mcp (agw.MCP), the MCP operation an MCP backend is about to run (phase
// MCPAuthorization; tools/list and prompts/list show only what a
// "tools/call" or "prompts/get" of the entry with empty arguments would be
// allowed):
//
//	mcp.method        string               "tools/call", "prompts/get" or "resources/read"
//	mcp.tool          agw.MCPTool          the tool, prompt or resource:
//	mcp.tool.name     string               its name at the target, without the gateway's prefix
//	                                       (the URI for resources/read)
//	mcp.tool.arguments map(string, dyn)    the call's arguments
//	mcp.target        string               the name of the MCP server (target) that owns it
//
// # Field kinds
//
//	Condition     bool              conditions, authorization rules
//	HeaderValue   string            header values to set or add
//	Body          string or bytes   a replacement body
//	RateLimitKey  string            a rate-limit descriptor value
//	Any           any type          access-log fields, metadata
//
// An expression whose type is dyn (for example jwt.claims.sub) is accepted
// with a warning and must produce the right type at run time; wrap it, as in
// string(jwt.claims.sub), to make a header value from a claim.
//
// # Functions
//
// The CEL standard library, plus the cel-go extensions strings (e.g.
// "a,b".split(","), s.trim(), s.lowerAscii(), s.replace(), "%s-%d".format([...])),
// encoders (base64.encode(bytes), base64.decode(string)), math (math.greatest,
// math.least, ...), lists (lists.range, l.distinct(), l.sort(), ...), sets
// (sets.contains, sets.intersects, ...), regex (regex.replace(s, re, repl),
// regex.extract(s, re), regex.extractAll(s, re)), network (ip("10.0.0.1"),
// cidr("10.0.0.0/8").containsIP(ip(source.address)), ...), bindings
// (cel.bind(name, value, expr)), optional values (request.headers[?"x"].orValue("d"))
// and two-variable comprehensions (request.headers.all(k, v, ...)). Our own:
//
//	sha256(string|bytes) string     hex-encoded SHA-256 digest
//	jsonParse(string|bytes) dyn     decode JSON; integral numbers become int, others double
//	toJson(dyn) string              encode as compact JSON with sorted object keys
//	s.lower() string                Unicode lowercase (lowerAscii() for ASCII only)
//	s.upper() string                Unicode uppercase
//	uuid() string                   a random version 4 UUID. Nondeterministic.
//	random() double                 uniform in [0, 1), e.g. random() < 0.1 to sample. Nondeterministic.
//
// uuid() and random() return a new value on each call, also within one
// request; in a rate-limit key they draw a warning, since the key never
// repeats. All other functions are deterministic.
//
// # What is checked
//
// At admission: the length (4096 characters), the syntax, every variable,
// field and function, the result type for the field kind, regular
// expression literals of matches() and regex.*, timestamp and duration
// literals, and the estimated worst-case cost (limit 1,000,000 units,
// roughly one per operation and a tenth per character scanned). The
// estimate assumes inputs within MaxHeaders and the other Max constants
// (128 headers of up to 8 KiB, 64 query parameters, 64 KiB bodies, ...),
// so one loop over request.headers is cheap and three nested ones are
// rejected ("expression too expensive (estimated cost 65110787 exceeds
// limit 1000000); avoid nested loops ...").
//
// Soft findings are warnings, not errors: a dyn result where a type is
// required, uuid() or random() in a rate-limit key, header lookups that can
// never match (request.headers.host: use request.host), and regex patterns
// computed at run time.
//
// At run time those assumptions hold: a loop over more than MaxHeaders
// headers or MaxQueryParams query parameters fails (lookups still work),
// reading a body larger than MaxBodyBytes fails, and the proxy rejects
// requests with oversized headers. Loops stop when the context is done.
// cel-go's runtime cost tracking is off by default (see
// Limits.MaxRuntimeCost for why) and can be turned on per program.
package cel
