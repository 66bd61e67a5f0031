package cel

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Request is the `request` variable. The proxy fills it with RequestFromHTTP;
// other callers (tests, the translator's dry runs) may fill it by hand.
// A Request is read-only while it is being evaluated and may then be shared by
// concurrent evaluations.
type Request struct {
	Method   string
	Path     string // URL path as sent (escaped), without the query
	Host     string // Host or :authority, lowercased, without the port
	Scheme   string // "http" or "https"
	URI      string // path and query as sent (the request target)
	Protocol string // "HTTP/1.1", "HTTP/2.0", "HTTP/3.0"
	// Headers is read, never copied: `request.headers` looks keys up in their
	// canonical form and lists them lowercased.
	Headers http.Header
	// Query, if nil, is parsed from RawQuery each time an expression reads it.
	Query    url.Values
	RawQuery string
	// Body is the buffered request body. Only phase RequestBody can read it.
	Body []byte
}

// Response is the `response` variable.
type Response struct {
	Code    int
	Headers http.Header
	// Body is the buffered response body. Only phase Response can read it.
	Body []byte
}

// Source is the `source` variable: the downstream peer of the connection.
type Source struct {
	Address string // IP address, without the port
	Port    int
	// Identity is the verified client certificate's first URI SAN (for
	// example a SPIFFE ID), else its subject common name; empty without mTLS.
	Identity string
	// SANs are all subject alternative names of the verified client
	// certificate: DNS names, URIs, IP addresses and e-mail addresses.
	SANs []string
}

// JWT is the `jwt` variable: the claims of the token the request was
// authenticated with. Build it with NewJWT so sub, iss and aud are derived
// from the claims.
type JWT struct {
	Claims map[string]any
	Sub    string
	Iss    string
	Aud    []string
}

// APIKey is the `apiKey` variable: the key the request was authenticated with.
type APIKey struct {
	Name     string
	Metadata map[string]string
}

// Backend is the `backend` variable: the backend the route selected.
type Backend struct {
	Name     string
	Protocol string // "http", "http2", "grpc", "tcp", "mcp", "a2a", ...
}

// ExtAuthz is the `extauthz` variable: what the external authorization
// server returned with an allowed request.
type ExtAuthz struct {
	Headers  http.Header
	Metadata map[string]any
}

// MCP is the `mcp` variable: the MCP operation an MCP backend is about to
// run (package proxy/mcp).
type MCP struct {
	// Method is the MCP method: "tools/call", "prompts/get",
	// "resources/read".
	Method string
	// Tool is the tool (or prompt, or resource) and its arguments.
	Tool MCPTool
	// Target is the name of the MCP server that owns the tool.
	Target string
}

// MCPTool is `mcp.tool`.
type MCPTool struct {
	// Name is the name at the target, without the gateway's prefix; the
	// URI for resources/read.
	Name string
	// Arguments are the call's arguments; empty when tools/list is
	// filtered.
	Arguments map[string]any
}

// NewJWT builds the jwt variable from verified claims. The `aud` claim may be
// a string or a list of strings, as RFC 7519 allows.
func NewJWT(claims map[string]any) *JWT {
	j := &JWT{Claims: claims}
	j.Sub, _ = claims["sub"].(string)
	j.Iss, _ = claims["iss"].(string)
	switch aud := claims["aud"].(type) {
	case string:
		j.Aud = []string{aud}
	case []string:
		j.Aud = aud
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				j.Aud = append(j.Aud, s)
			}
		}
	}
	return j
}

// CEL type names of the variables. They appear in error messages.
const (
	typeRequest  = "agw.Request"
	typeResponse = "agw.Response"
	typeSource   = "agw.Source"
	typeJWT      = "agw.JWT"
	typeAPIKey   = "agw.APIKey"
	typeBackend  = "agw.Backend"
	typeExtAuthz = "agw.ExtAuthz"
	typeMCP      = "agw.MCP"
	typeMCPTool  = "agw.MCPTool"
)

var (
	stringMap    = types.NewMapType(types.StringType, types.StringType)
	dynMap       = types.NewMapType(types.StringType, types.DynType)
	stringList   = types.NewListType(types.StringType)
	requestType  = types.NewObjectType(typeRequest)
	responseType = types.NewObjectType(typeResponse)
	sourceType   = types.NewObjectType(typeSource)
	jwtType      = types.NewObjectType(typeJWT)
	apiKeyType   = types.NewObjectType(typeAPIKey)
	backendType  = types.NewObjectType(typeBackend)
	extAuthzType = types.NewObjectType(typeExtAuthz)
	mcpType      = types.NewObjectType(typeMCP)
	mcpToolType  = types.NewObjectType(typeMCPTool)
)

// field is one field of an object type: its CEL type, how to read it, and
// the largest size the cost estimator assumes for it.
type field struct {
	name string
	typ  *types.Type
	get  func(obj any) ref.Val
	set  func(obj any) bool
	// body marks fields only some phases can read.
	body bool
}

type objectType struct {
	name   string
	typ    *types.Type
	fields []field
}

func str(s string) ref.Val { return types.String(s) }

var objectTypes = []*objectType{
	{name: typeRequest, typ: requestType, fields: []field{
		{name: "method", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).Method) }, set: func(o any) bool { return o.(*Request).Method != "" }},
		{name: "path", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).Path) }, set: func(o any) bool { return o.(*Request).Path != "" }},
		{name: "host", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).Host) }, set: func(o any) bool { return o.(*Request).Host != "" }},
		{name: "scheme", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).Scheme) }, set: func(o any) bool { return o.(*Request).Scheme != "" }},
		{name: "uri", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).URI) }, set: func(o any) bool { return o.(*Request).URI != "" }},
		{name: "protocol", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Request).Protocol) }, set: func(o any) bool { return o.(*Request).Protocol != "" }},
		{name: "headers", typ: stringMap, get: func(o any) ref.Val { return headerMap{o.(*Request).Headers} }, set: func(o any) bool { return len(o.(*Request).Headers) > 0 }},
		{name: "query", typ: stringMap, get: func(o any) ref.Val { return queryMap{o.(*Request).query()} }, set: func(o any) bool { r := o.(*Request); return len(r.Query) > 0 || r.RawQuery != "" }},
		{name: "body", typ: types.BytesType, body: true, get: func(o any) ref.Val { return body(o.(*Request).Body) }, set: func(o any) bool { return len(o.(*Request).Body) > 0 }},
	}},
	{name: typeResponse, typ: responseType, fields: []field{
		{name: "code", typ: types.IntType, get: func(o any) ref.Val { return types.Int(o.(*Response).Code) }, set: func(o any) bool { return o.(*Response).Code != 0 }},
		{name: "headers", typ: stringMap, get: func(o any) ref.Val { return headerMap{o.(*Response).Headers} }, set: func(o any) bool { return len(o.(*Response).Headers) > 0 }},
		{name: "body", typ: types.BytesType, body: true, get: func(o any) ref.Val { return body(o.(*Response).Body) }, set: func(o any) bool { return len(o.(*Response).Body) > 0 }},
	}},
	{name: typeSource, typ: sourceType, fields: []field{
		{name: "address", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Source).Address) }, set: func(o any) bool { return o.(*Source).Address != "" }},
		{name: "port", typ: types.IntType, get: func(o any) ref.Val { return types.Int(o.(*Source).Port) }, set: func(o any) bool { return o.(*Source).Port != 0 }},
		{name: "identity", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Source).Identity) }, set: func(o any) bool { return o.(*Source).Identity != "" }},
		{name: "sans", typ: stringList, get: func(o any) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, o.(*Source).SANs) }, set: func(o any) bool { return len(o.(*Source).SANs) > 0 }},
	}},
	{name: typeJWT, typ: jwtType, fields: []field{
		{name: "claims", typ: dynMap, get: func(o any) ref.Val { return claimsMap(o.(*JWT).Claims) }, set: func(o any) bool { return len(o.(*JWT).Claims) > 0 }},
		{name: "sub", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*JWT).Sub) }, set: func(o any) bool { return o.(*JWT).Sub != "" }},
		{name: "iss", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*JWT).Iss) }, set: func(o any) bool { return o.(*JWT).Iss != "" }},
		{name: "aud", typ: stringList, get: func(o any) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, o.(*JWT).Aud) }, set: func(o any) bool { return len(o.(*JWT).Aud) > 0 }},
	}},
	{name: typeAPIKey, typ: apiKeyType, fields: []field{
		{name: "name", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*APIKey).Name) }, set: func(o any) bool { return o.(*APIKey).Name != "" }},
		{name: "metadata", typ: stringMap, get: func(o any) ref.Val { return stringStringMap(o.(*APIKey).Metadata) }, set: func(o any) bool { return len(o.(*APIKey).Metadata) > 0 }},
	}},
	{name: typeBackend, typ: backendType, fields: []field{
		{name: "name", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Backend).Name) }, set: func(o any) bool { return o.(*Backend).Name != "" }},
		{name: "protocol", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*Backend).Protocol) }, set: func(o any) bool { return o.(*Backend).Protocol != "" }},
	}},
	{name: typeExtAuthz, typ: extAuthzType, fields: []field{
		{name: "headers", typ: stringMap, get: func(o any) ref.Val { return headerMap{o.(*ExtAuthz).Headers} }, set: func(o any) bool { return len(o.(*ExtAuthz).Headers) > 0 }},
		{name: "metadata", typ: dynMap, get: func(o any) ref.Val { return claimsMap(o.(*ExtAuthz).Metadata) }, set: func(o any) bool { return len(o.(*ExtAuthz).Metadata) > 0 }},
	}},
	{name: typeMCP, typ: mcpType, fields: []field{
		{name: "method", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*MCP).Method) }, set: func(o any) bool { return o.(*MCP).Method != "" }},
		{name: "tool", typ: mcpToolType, get: func(o any) ref.Val { return objVal[MCPTool]{&o.(*MCP).Tool} }, set: func(o any) bool { return o.(*MCP).Tool.Name != "" }},
		{name: "target", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*MCP).Target) }, set: func(o any) bool { return o.(*MCP).Target != "" }},
	}},
	{name: typeMCPTool, typ: mcpToolType, fields: []field{
		{name: "name", typ: types.StringType, get: func(o any) ref.Val { return str(o.(*MCPTool).Name) }, set: func(o any) bool { return o.(*MCPTool).Name != "" }},
		{name: "arguments", typ: dynMap, get: func(o any) ref.Val { return claimsMap(o.(*MCPTool).Arguments) }, set: func(o any) bool { return len(o.(*MCPTool).Arguments) > 0 }},
	}},
}

// body refuses bodies larger than the cost estimate assumed.
func body(b []byte) ref.Val {
	if len(b) > MaxBodyBytes {
		return types.NewErr("body is %d bytes: CEL reads at most %d", len(b), MaxBodyBytes)
	}
	return types.Bytes(b)
}

var emptyStringMap = types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{})

func stringStringMap(m map[string]string) ref.Val {
	if m == nil {
		return emptyStringMap
	}
	return types.NewStringStringMap(types.DefaultTypeAdapter, m)
}

func claimsMap(m map[string]any) ref.Val {
	if m == nil {
		m = map[string]any{}
	}
	return types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
}

func (r *Request) query() url.Values {
	if r.Query != nil || r.RawQuery == "" {
		return r.Query
	}
	// ParseQuery keeps what it could parse; a malformed pair is dropped,
	// as net/http does.
	q, _ := url.ParseQuery(r.RawQuery) //nolint:errcheck // keeps the pairs it could parse, see above
	return q
}

// provider resolves our object types for the checker and the interpreter and
// hands everything else to the standard provider. One provider per phase,
// because body fields exist only in some phases.
type provider struct {
	types.Provider
	objects map[string]*objectType
	fields  map[string]map[string]*types.FieldType
	names   map[string][]string
}

func newProvider(base types.Provider, requestBody, responseBody bool) *provider {
	p := &provider{
		Provider: base,
		objects:  map[string]*objectType{},
		fields:   map[string]map[string]*types.FieldType{},
		names:    map[string][]string{},
	}
	for _, ot := range objectTypes {
		p.objects[ot.name] = ot
		fs := map[string]*types.FieldType{}
		var names []string
		for _, f := range ot.fields {
			if f.body && ((ot.name == typeRequest && !requestBody) || (ot.name == typeResponse && !responseBody)) {
				continue
			}
			f := f
			fs[f.name] = &types.FieldType{
				Type:    f.typ,
				IsSet:   func(o any) bool { return f.set(o) },
				GetFrom: func(o any) (any, error) { return f.get(o), nil },
			}
			names = append(names, f.name)
		}
		sort.Strings(names)
		p.fields[ot.name] = fs
		p.names[ot.name] = names
	}
	return p
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if ot, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(ot.typ), true
	}
	return p.Provider.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if names, ok := p.names[name]; ok {
		return names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if fs, ok := p.fields[name]; ok {
		ft, ok := fs[fieldName]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, fieldName)
}

// NewValue refuses to build our objects: expressions read them, never make them.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("cannot create %s values", name)
	}
	return p.Provider.NewValue(name, fields)
}

// objVal lets the activation hand our structs to the interpreter. It holds a
// single pointer, so storing it in an interface does not allocate.
type objVal[T any] struct{ p *T }

func (o objVal[T]) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(o.p) == t {
		return o.p, nil
	}
	return nil, fmt.Errorf("type conversion error from %T to '%v'", o.p, t)
}

func (o objVal[T]) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case o.Type():
		return o
	case types.TypeType:
		return o.Type().(*types.Type)
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.Type(), t)
}

func (o objVal[T]) Equal(other ref.Val) ref.Val { return types.Bool(any(o.p) == other.Value()) }
func (o objVal[T]) Value() any                  { return o.p }

func (o objVal[T]) Type() ref.Type {
	switch any(o.p).(type) {
	case *Request:
		return requestType
	case *Response:
		return responseType
	case *Source:
		return sourceType
	case *JWT:
		return jwtType
	case *APIKey:
		return apiKeyType
	case *Backend:
		return backendType
	case *ExtAuthz:
		return extAuthzType
	case *MCP:
		return mcpType
	case *MCPTool:
		return mcpToolType
	}
	return types.ErrType
}
