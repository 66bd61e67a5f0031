package cel

import (
	"math"
	"strings"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Size bounds the static cost estimate assumes. They are the proxy's
// limits (or generous guesses where the proxy has none): without them any
// expression reading a map estimates to an unbounded cost. At run time the
// cost limit catches inputs larger than these.
const (
	MaxHeaders          = 128     // headers per request or response
	MaxHeaderNameLen    = 256     // characters of a header name
	MaxHeaderValueLen   = 8192    // characters of a (joined) header value
	MaxPathLen          = 8192    // characters of a path or URI
	MaxQueryParams      = 64      // query parameters
	MaxQueryValueLen    = 2048    // characters of a query key or value
	MaxBodyBytes        = 1 << 16 // bytes of a buffered body
	MaxClaims           = 64      // entries of jwt.claims and extauthz.metadata
	MaxClaimSize        = 256     // size of one claim value: characters, list items or map entries
	MaxSANs             = 32      // source.sans and jwt.aud entries
	MaxIdentityLen      = 2048    // characters of a SAN or identity
	MaxAPIKeyMetadata   = 32      // entries of apiKey.metadata
	maxShortStringLen   = 255     // host, method, scheme, protocol, names, addresses
	maxMetadataValueLen = 1024
)

// sizes maps a path (as checker.AstNode.Path joins it) to its largest size.
var sizes = map[string]uint64{
	"request.method":           16,
	"request.path":             MaxPathLen,
	"request.uri":              MaxPathLen,
	"request.host":             maxShortStringLen,
	"request.scheme":           16,
	"request.protocol":         16,
	"request.headers":          MaxHeaders,
	"request.headers.@keys":    MaxHeaderNameLen,
	"request.headers.@values":  MaxHeaderValueLen,
	"request.query":            MaxQueryParams,
	"request.query.@keys":      MaxQueryValueLen,
	"request.query.@values":    MaxQueryValueLen,
	"request.body":             MaxBodyBytes,
	"response.headers":         MaxHeaders,
	"response.headers.@keys":   MaxHeaderNameLen,
	"response.headers.@values": MaxHeaderValueLen,
	"response.body":            MaxBodyBytes,
	"source.address":           64,
	"source.identity":          MaxIdentityLen,
	"source.sans":              MaxSANs,
	"source.sans.@items":       MaxIdentityLen,
	"jwt.claims":               MaxClaims,
	"jwt.claims.@keys":         maxShortStringLen,
	"jwt.sub":                  maxShortStringLen,
	"jwt.iss":                  maxShortStringLen,
	"jwt.aud":                  MaxSANs,
	"jwt.aud.@items":           maxShortStringLen,
	"apiKey.name":              maxShortStringLen,
	"apiKey.metadata":          MaxAPIKeyMetadata,
	"apiKey.metadata.@keys":    maxShortStringLen,
	"apiKey.metadata.@values":  maxMetadataValueLen,
	"backend.name":             maxShortStringLen,
	"backend.protocol":         16,
	"extauthz.headers":         MaxHeaders,
	"extauthz.headers.@keys":   MaxHeaderNameLen,
	"extauthz.headers.@values": MaxHeaderValueLen,
	"extauthz.metadata":        MaxClaims,
	"extauthz.metadata.@keys":  maxShortStringLen,
}

type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind, types.ListKind, types.MapKind, types.DynKind:
	default:
		return nil
	}
	return &checker.SizeEstimate{Min: 0, Max: maxSize(n.Path())}
}

// mapPaths are the map(string, string) inputs: `request.headers.foo` is
// sized as one of their values.
var mapPaths = map[string]bool{
	"request.headers": true, "request.query": true, "response.headers": true,
	"apiKey.metadata": true, "extauthz.headers": true,
}

func maxSize(path []string) uint64 {
	p := ""
	for i, e := range path {
		if i > 0 {
			if mapPaths[p] && !strings.HasPrefix(e, "@") {
				e = "@values"
			}
			p += "."
		}
		p += e
	}
	if s, ok := sizes[p]; ok {
		return s
	}
	// Anything below a claim or metadata value.
	if strings.HasPrefix(p, "jwt.claims.") || strings.HasPrefix(p, "extauthz.metadata.") {
		return MaxClaimSize
	}
	// A value derived from the inputs by a function cel-go cannot size
	// (the parts of split(), fields of jsonParse() results, loop variables
	// over them): nothing we read is larger than a body.
	return MaxBodyBytes
}

// EstimateCallCost prices our own functions: a pass over the input, like
// the standard string functions.
func (e sizeEstimator) EstimateCallCost(_, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	switch overloadID {
	case "sha256_string", "sha256_bytes", "jsonParse_string", "jsonParse_bytes", "toJson_dyn":
		sz := e.size(args[0])
		if k := args[0].Type().Kind(); k == types.ListKind || k == types.MapKind {
			// Lists and maps: assume up to 1 KiB of JSON per element.
			sz = checker.SizeEstimate{Min: sz.Min, Max: satMul(sz.Max, 1024)}
		}
		cost := sz.MultiplyByCostFactor(stringFactor).Add(checker.FixedCostEstimate(1))
		res := sz
		if overloadID == "sha256_string" || overloadID == "sha256_bytes" {
			res = checker.FixedSizeEstimate(64)
		}
		if overloadID == "toJson_dyn" {
			// Quoting can double the text; nested values are bounded by the input size.
			res = checker.SizeEstimate{Min: 0, Max: satMul(sz.Max, 2)}
		}
		return &checker.CallEstimate{CostEstimate: cost, ResultSize: &res}
	case "string_lower", "string_upper":
		if target == nil {
			return nil
		}
		sz := e.size(*target)
		cost := sz.MultiplyByCostFactor(stringFactor).Add(checker.FixedCostEstimate(1))
		return &checker.CallEstimate{CostEstimate: cost, ResultSize: &sz}
	case overloads.BoolToString, overloads.IntToString, overloads.UintToString, overloads.DoubleToString,
		overloads.TimestampToString, overloads.DurationToString:
		// cel-go leaves the size of these unknown, which makes any
		// concatenation with them unbounded.
		res := checker.SizeEstimate{Min: 1, Max: 40}
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1), ResultSize: &res}
	case "uuid":
		res := checker.FixedSizeEstimate(36)
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1), ResultSize: &res}
	case "random":
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1)}
	}
	return nil
}

const stringFactor = 0.1

func (e sizeEstimator) size(n checker.AstNode) checker.SizeEstimate {
	if s := n.ComputedSize(); s != nil {
		return *s
	}
	if s := e.EstimateSize(n); s != nil {
		return *s
	}
	return checker.SizeEstimate{Min: 0, Max: math.MaxUint64}
}

func satMul(x, y uint64) uint64 {
	if y != 0 && x > math.MaxUint64/y {
		return math.MaxUint64
	}
	return x * y
}

// runtimeCost prices our own functions during evaluation, matching the
// static estimate.
type runtimeCost struct{}

func (runtimeCost) CallCost(_, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	var c uint64
	switch overloadID {
	case "sha256_string", "sha256_bytes", "jsonParse_string", "jsonParse_bytes", "toJson_dyn", "string_lower", "string_upper":
		n := uint64(1)
		if len(args) > 0 {
			n = actualSize(args[0])
		}
		if overloadID == "toJson_dyn" {
			n = actualSize(result)
		}
		c = 1 + uint64(math.Ceil(float64(n)*stringFactor))
	case "uuid", "random":
		c = 1
	default:
		return nil
	}
	return &c
}

func actualSize(v ref.Val) uint64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 1
}
