package charts

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// KubeVersion is the Kubernetes version charts are rendered and linted for offline (Helm's
// own default outside a cluster is older than the charts' kubeVersion constraint).
const KubeVersion = "v1.37.2"

// ReleaseName is the release name used when rendering.
const ReleaseName = "agentgateway-go"

func kubeVersion() (*common.KubeVersion, error) {
	return common.ParseKubeVersion(KubeVersion)
}

// Load loads a chart directory or archive.
func Load(path string) (*chart.Chart, error) {
	return loader.Load(path)
}

// Render renders ch with vals into namespace like `helm template --include-crds`, with the
// Helm SDK and no cluster: the install action in client dry-run mode, values checked against
// values.schema.json.
func Render(ch *chart.Chart, namespace string, vals map[string]any) ([]Object, error) {
	manifest, err := RenderManifest(ch, namespace, vals)
	if err != nil {
		return nil, err
	}
	return DecodeYAML([]byte(manifest))
}

// RenderManifest is Render's multi-document YAML, in Helm's install order.
func RenderManifest(ch *chart.Chart, namespace string, vals map[string]any) (string, error) {
	kv, err := kubeVersion()
	if err != nil {
		return "", err
	}
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.NewTextHandler(io.Discard, nil))
	inst := action.NewInstall(cfg)
	inst.DryRunStrategy = action.DryRunClient
	inst.Replace = true
	inst.ReleaseName = ReleaseName
	inst.Namespace = namespace
	inst.IncludeCRDs = true
	inst.KubeVersion = kv
	r, err := inst.Run(ch, vals)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", ch.Name(), err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return "", fmt.Errorf("render %s: unexpected release type %T", ch.Name(), r)
	}
	if len(rel.Hooks) > 0 {
		return "", fmt.Errorf("render %s: the chart has hooks; they would be missing from the rendered objects", ch.Name())
	}
	return rel.Manifest, nil
}

// Lint lints the chart directory like `helm lint --strict` (warnings are errors) with vals.
func Lint(chartDir string, vals map[string]any) error {
	kv, err := kubeVersion()
	if err != nil {
		return err
	}
	l := action.NewLint()
	l.Strict = true
	l.Namespace = BaseNamespace
	l.KubeVersion = kv
	res := l.Run([]string{chartDir}, vals)
	if len(res.Errors) > 0 {
		return fmt.Errorf("lint %s: %w", chartDir, errors.Join(res.Errors...))
	}
	if res.TotalChartsLinted != 1 {
		return fmt.Errorf("lint %s: linted %d charts, want 1", chartDir, res.TotalChartsLinted)
	}
	return nil
}
