package cel

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Names of our own functions. nondeterministic lists those whose result
// changes between calls with the same arguments.
const (
	fnSHA256    = "sha256"
	fnUUID      = "uuid"
	fnRandom    = "random"
	fnJSONParse = "jsonParse"
	fnToJSON    = "toJson"
	fnLower     = "lower"
	fnUpper     = "upper"
)

var nondeterministic = map[string]bool{fnUUID: true, fnRandom: true}

// functions declares our custom functions. Costs are in costs.go.
func functions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(fnSHA256,
			cel.Overload("sha256_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return hexSHA256([]byte(v.(types.String))) })),
			cel.Overload("sha256_bytes", []*cel.Type{cel.BytesType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return hexSHA256([]byte(v.(types.Bytes))) }))),
		cel.Function(fnUUID,
			cel.Overload("uuid", nil, cel.StringType,
				cel.FunctionBinding(func(...ref.Val) ref.Val { return types.String(newUUID()) }))),
		cel.Function(fnRandom,
			cel.Overload("random", nil, cel.DoubleType,
				cel.FunctionBinding(func(...ref.Val) ref.Val { return types.Double(randomFloat()) }))),
		cel.Function(fnJSONParse,
			cel.Overload("jsonParse_string", []*cel.Type{cel.StringType}, cel.DynType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return jsonParse([]byte(v.(types.String))) })),
			cel.Overload("jsonParse_bytes", []*cel.Type{cel.BytesType}, cel.DynType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return jsonParse([]byte(v.(types.Bytes))) }))),
		cel.Function(fnToJSON,
			cel.Overload("toJson_dyn", []*cel.Type{cel.DynType}, cel.StringType,
				cel.UnaryBinding(toJSON))),
		cel.Function(fnLower,
			cel.MemberOverload("string_lower", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(strings.ToLower(string(v.(types.String)))) }))),
		cel.Function(fnUpper,
			cel.MemberOverload("string_upper", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.String(strings.ToUpper(string(v.(types.String)))) }))),
	}
}

func hexSHA256(b []byte) ref.Val {
	sum := sha256.Sum256(b)
	return types.String(hex.EncodeToString(sum[:]))
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomFloat returns a uniform double in [0, 1).
func randomFloat() float64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}

// jsonParse decodes JSON into CEL values: objects become map(string, dyn),
// arrays list(dyn), integral numbers int, other numbers double.
func jsonParse(b []byte) ref.Val {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return types.NewErr("jsonParse: %v", err)
	}
	// More is false before a stray ']' or '}', so look for the end.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return types.NewErr("jsonParse: unexpected data after the JSON value")
	}
	return types.DefaultTypeAdapter.NativeToValue(fromJSON(v))
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64() //nolint:errcheck // fails only on overflow, where the result is the nearest float (±Inf)
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	case nil:
		return types.NullValue
	}
	return v
}

// toJSON encodes a CEL value as compact JSON with sorted object keys, so
// the same value always gives the same text.
func toJSON(v ref.Val) ref.Val {
	n, err := toNative(v, 0)
	if err != nil {
		return types.NewErr("toJson: %v", err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return types.NewErr("toJson: %v", err)
	}
	return types.String(b)
}

const maxJSONDepth = 64

func toNative(v ref.Val, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("value nested deeper than %d levels", maxJSONDepth)
	}
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v has no JSON form", f)
		}
		return f, nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return []byte(x), nil // base64, as encoding/json does
	case traits.Mapper:
		out := map[string]any{}
		it := x.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			e, err := toNative(x.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	case traits.Lister:
		var out []any
		it := x.Iterator()
		for it.HasNext() == types.True {
			e, err := toNative(it.Next(), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case types.Timestamp, types.Duration:
		return x.ConvertToType(types.StringType).Value(), nil
	}
	return nil, fmt.Errorf("cannot encode %s", v.Type().TypeName())
}
