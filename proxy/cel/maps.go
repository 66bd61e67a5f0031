package cel

import (
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// headerMap is `map(string, string)` over an http.Header without copying it.
// Keys are matched case-insensitively and listed lowercased; repeated
// headers are joined with ", " (RFC 9110 section 5.3).
type headerMap struct{ h http.Header }

var _ traits.Mapper = headerMap{}

func (m headerMap) lookup(key string) ([]string, bool) {
	if v, ok := m.h[textproto.CanonicalMIMEHeaderKey(key)]; ok {
		return v, true
	}
	// Headers set by hand may not be canonical.
	for k, v := range m.h {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func (m headerMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.ValOrErr(key, "no such key: %v", key), false
	}
	v, ok := m.lookup(string(k))
	if !ok {
		return nil, false
	}
	if len(v) == 1 {
		return types.String(v[0]), true
	}
	return types.String(strings.Join(v, ", ")), true
}

func (m headerMap) Get(key ref.Val) ref.Val {
	v, ok := m.Find(key)
	if !ok {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

func (m headerMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

func (m headerMap) Size() ref.Val { return types.Int(len(m.h)) }

// materialize builds a plain map for the rare operations (iteration,
// equality, conversion) that need every entry.
func (m headerMap) materialize() traits.Mapper {
	out := make(map[string]string, len(m.h))
	for k, v := range m.h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return types.NewStringStringMap(types.DefaultTypeAdapter, out)
}

// Iterator lists the keys lowercased, without building a map: loops over
// headers start often (once per outer iteration in nested loops).
func (m headerMap) Iterator() traits.Iterator {
	if len(m.h) > MaxHeaders {
		return &errIterator{err: types.NewErr("cannot loop over %d headers: at most %d", len(m.h), MaxHeaders)}
	}
	keys := make([]string, 0, len(m.h))
	for k := range m.h {
		keys = append(keys, k)
	}
	return &keyIterator{keys: keys, lower: true}
}
func (m headerMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.materialize().ConvertToNative(t)
}
func (m headerMap) ConvertToType(t ref.Type) ref.Val {
	if t == types.MapType {
		return m
	}
	return m.materialize().ConvertToType(t)
}
func (m headerMap) Equal(o ref.Val) ref.Val { return m.materialize().Equal(o) }
func (m headerMap) Type() ref.Type          { return types.MapType }
func (m headerMap) Value() any              { return m.h }

// queryMap is `map(string, string)` over url.Values: the first value of each
// parameter. Keys are case-sensitive, as in URLs.
type queryMap struct{ q url.Values }

var _ traits.Mapper = queryMap{}

func (m queryMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.ValOrErr(key, "no such key: %v", key), false
	}
	v, ok := m.q[string(k)]
	if !ok {
		return nil, false
	}
	if len(v) == 0 {
		return types.String(""), true
	}
	return types.String(v[0]), true
}

func (m queryMap) Get(key ref.Val) ref.Val {
	v, ok := m.Find(key)
	if !ok {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

func (m queryMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

func (m queryMap) Size() ref.Val { return types.Int(len(m.q)) }

func (m queryMap) materialize() traits.Mapper {
	out := make(map[string]string, len(m.q))
	for k, v := range m.q {
		if len(v) > 0 {
			out[k] = v[0]
		} else {
			out[k] = ""
		}
	}
	return types.NewStringStringMap(types.DefaultTypeAdapter, out)
}

func (m queryMap) Iterator() traits.Iterator {
	if len(m.q) > MaxQueryParams {
		return &errIterator{err: types.NewErr("cannot loop over %d query parameters: at most %d", len(m.q), MaxQueryParams)}
	}
	keys := make([]string, 0, len(m.q))
	for k := range m.q {
		keys = append(keys, k)
	}
	return &keyIterator{keys: keys}
}

// keyIterator yields map keys for comprehensions.
type keyIterator struct {
	keys  []string
	i     int
	lower bool
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return types.NewErr("no more elements")
	}
	k := it.keys[it.i]
	it.i++
	if it.lower {
		k = strings.ToLower(k)
	}
	return types.String(k)
}

func (it *keyIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("iterator cannot be converted")
}
func (it *keyIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("iterator cannot be converted")
}
func (it *keyIterator) Equal(ref.Val) ref.Val { return types.False }
func (it *keyIterator) Type() ref.Type        { return types.IteratorType }
func (it *keyIterator) Value() any            { return it }
func (m queryMap) ConvertToNative(t reflect.Type) (any, error) {
	return m.materialize().ConvertToNative(t)
}
func (m queryMap) ConvertToType(t ref.Type) ref.Val {
	if t == types.MapType {
		return m
	}
	return m.materialize().ConvertToType(t)
}
func (m queryMap) Equal(o ref.Val) ref.Val { return m.materialize().Equal(o) }
func (m queryMap) Type() ref.Type          { return types.MapType }
func (m queryMap) Value() any              { return m.q }

// errIterator yields one error, which fails the loop: the cost estimate
// assumes no more than MaxHeaders (MaxQueryParams) entries, and nested
// loops over more would cost far more than it admitted.
type errIterator struct {
	err  ref.Val
	done bool
}

func (it *errIterator) HasNext() ref.Val { return types.Bool(!it.done) }
func (it *errIterator) Next() ref.Val    { it.done = true; return it.err }
func (it *errIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("iterator cannot be converted")
}
func (it *errIterator) ConvertToType(ref.Type) ref.Val { return it.err }
func (it *errIterator) Equal(ref.Val) ref.Val          { return types.False }
func (it *errIterator) Type() ref.Type                 { return types.IteratorType }
func (it *errIterator) Value() any                     { return it }
