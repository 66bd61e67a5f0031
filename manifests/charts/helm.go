package charts

import (
	"fmt"
	"io"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Configuration is a Helm SDK configuration for the cluster of kubeconfig that keeps release
// records as Secrets in namespace, as `helm --kubeconfig ... -n namespace` does. The SDK's own
// log is discarded: callers report what they act on.
func Configuration(kubeconfig, namespace string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.NewTextHandler(io.Discard, nil))
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}
