package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// Decode strictly decodes a YAML or JSON document into a Config: unknown
// fields, duplicate documents and trailing data are errors, so a typo in a
// field name is reported instead of silently ignored. Decode does not
// validate; call Validate on the result.
//
// YAML is converted to JSON first so that the json tags are the only field
// names: the proxy must not depend on sigs.k8s.io/yaml (the proxy tree does
// not import sigs.k8s.io/*), and go.yaml.in/yaml would otherwise use its own
// field naming.
func Decode(data []byte) (*Config, error) {
	js, err := yamlToJSON(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode config: trailing data after the config object")
	}
	return &c, nil
}

// yamlToJSON converts exactly one YAML document to JSON. JSON input is valid
// YAML, so it takes the same path.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("decode config: empty document")
		}
		return nil, fmt.Errorf("decode config: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode config: more than one YAML document; put the whole config in one document")
	}
	v, err := jsonCompatible(v, "")
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	return js, nil
}

// jsonCompatible rejects YAML constructs JSON cannot express (non-string
// map keys) with the path where they occur.
func jsonCompatible(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := jsonCompatible(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("decode config: %s: map key %v is not a string", path, k)
			}
			c, err := jsonCompatible(e, path+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i, e := range t {
			c, err := jsonCompatible(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	default:
		return v, nil
	}
}

// Encode writes the config as indented JSON (which is also YAML). HTML
// escaping is off so dumps stay readable ("<redacted>", not "\u003c").
func Encode(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
