package cel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
)

// refJSON is the reference reading of a JSON text: encoding/json with
// numbers kept as text, and nothing but white space after the value.
func refJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// sameJSON compares a reference value with one read back from toJson:
// numbers by value (integers exactly when both are integers).
func sameJSON(ref, got any) bool {
	switch r := ref.(type) {
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		ri, err1 := r.Int64()
		gi, err2 := g.Int64()
		if err1 == nil && err2 == nil {
			return ri == gi
		}
		rf, err1 := strconv.ParseFloat(string(r), 64)
		gf, err2 := strconv.ParseFloat(string(g), 64)
		return err1 == nil && err2 == nil && rf == gf
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(r) {
			return false
		}
		for k, v := range r {
			if gv, ok := g[k]; !ok || !sameJSON(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(r) {
			return false
		}
		for i := range r {
			if !sameJSON(r[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(ref, got)
}

// depth is the nesting depth of a decoded JSON value.
func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// outOfRange reports whether a number of v has no float64 (toJson has no
// form for ±Inf).
func outOfRange(v any) bool {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err != nil || math.IsInf(f, 0)
	case map[string]any:
		for _, e := range x {
			if outOfRange(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if outOfRange(e) {
				return true
			}
		}
	}
	return false
}

// FuzzJSONParse compares jsonParse with encoding/json: it accepts
// exactly the texts encoding/json reads as one value, and toJson of its
// result (directly and through a compiled expression reading the request
// body) reads back as the same value.
func FuzzJSONParse(f *testing.F) {
	for _, s := range []string{
		`{"k": [1, 2.5, "x", {"n": null}], "b": true}`,
		`1 2`, `1]`, `{} }`, `"\ud800"`, `1e400`, `-0`, `12345678901234567890`, `[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]`,
		`{"a":1,"a":2}`, "\"\xff\"", ` null `, `1.0`, `{"":{"":[]}}`,
	} {
		f.Add([]byte(s))
	}
	prg, issues := Check(PhaseRequestBody, KindAny, `toJson(jsonParse(request.body))`)
	if HasErrors(issues) {
		f.Fatalf("compile: %v", issues)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := jsonParse(data)
		ref, refErr := refJSON(data)
		if _, isErr := got.(*types.Err); isErr != (refErr != nil) {
			t.Fatalf("jsonParse(%q) = %v, encoding/json error %v", data, got, refErr)
		}
		if refErr != nil {
			return
		}
		out := toJSON(got)
		if _, isErr := out.(*types.Err); isErr {
			if depth(ref) > maxJSONDepth || outOfRange(ref) {
				return
			}
			t.Fatalf("toJson(jsonParse(%q)): %v", data, out)
		}
		back, err := refJSON([]byte(out.(types.String)))
		if err != nil || !sameJSON(ref, back) {
			t.Fatalf("jsonParse(%q) written as %s reads back as %v (%v)", data, out, back, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		viaCEL, err := prg.Eval(ctx, &Activation{Request: &Request{Body: data}})
		if err != nil || viaCEL != string(out.(types.String)) {
			t.Fatalf("the expression gave %v, %v; toJson %s", viaCEL, err, out)
		}
	})
}
