// Package charts generates the Helm charts under manifests/charts from the kustomize base in
// manifests/, renders them with the Helm SDK, and packages a release (chart archives,
// install.yaml with images pinned by digest, digests.txt).
//
// The kustomize base is the source of truth: the charts' templates, values.yaml,
// values.schema.json and the values table of each chart README are generated from
// `kustomize build manifests/...` (see Generate), so a change to manifests/operator reaches
// the chart with `make chart`, and the chart tests fail while it has not.
package charts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one Kubernetes object as decoded from YAML (numbers are float64, as JSON).
type Object map[string]any

// Key identifies an object: group/version, kind, namespace and name.
func (o Object) Key() string {
	return fmt.Sprintf("%s %s %s/%s", o.str("apiVersion"), o.str("kind"), o.meta("namespace"), o.meta("name"))
}

// Kind is the object's kind.
func (o Object) Kind() string { return o.str("kind") }

// Name is metadata.name.
func (o Object) Name() string { return o.meta("name") }

func (o Object) str(k string) string {
	s, _ := o[k].(string)
	return s
}

func (o Object) meta(k string) string {
	m, _ := o["metadata"].(map[string]any)
	s, _ := m[k].(string)
	return s
}

// Kustomize builds the kustomization in dir (a path on disk) like `kubectl kustomize dir`
// and returns its objects in kustomize's output order.
func Kustomize(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return DecodeYAML(out)
}

// DecodeYAML splits a multi-document YAML stream into objects, skipping empty documents
// (Helm leaves them where a template renders nothing).
func DecodeYAML(data []byte) ([]Object, error) {
	var objs []Object
	for i, doc := range splitDocuments(data) {
		var o Object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(o) == 0 {
			continue
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// splitDocuments splits on lines that are exactly "---" (what kustomize and Helm write).
func splitDocuments(data []byte) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimRight(line, " ") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.String())
}

// EncodeYAML writes objs as one multi-document YAML stream.
func EncodeYAML(w io.Writer, objs []Object) error {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode %s: %w", o.Key(), err)
		}
		buf.Write(b)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// errNotFound is returned when an expected object or field is missing from the base.
var errNotFound = errors.New("not found in the kustomize base")
