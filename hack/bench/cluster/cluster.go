// Package cluster holds the set-up code the cluster benchmark drivers (hack/bench/routes,
// hack/bench/rollout) share: settings from the environment, the API client, and the
// namespace and Gateway every run starts from.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// EnvStr is the environment variable k, or def when it is unset or empty.
func EnvStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// EnvInt is the environment variable k as a whole number, or def when it is unset; a value
// that is not one exits with status 2, naming prog.
func EnvInt(prog, k string, def int) int {
	if v := os.Getenv(k); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s=%q is not a whole number\n", prog, k, v)
			os.Exit(2)
		}
		return n
	}
	return def
}

// EnvDuration is the environment variable k as a duration, or def when it is unset; a
// value that is not one exits with status 2, naming prog.
func EnvDuration(prog, k string, def time.Duration) time.Duration {
	if v := os.Getenv(k); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %s=%q is not a duration (e.g. 30s): %v\n", prog, k, v, err)
			os.Exit(2)
		}
		return d
	}
	return def
}

// Config is the kubeconfig's REST config. client-go's and controller-runtime's own logs
// (watch restarts and the like) are not part of a benchmark's report, so it discards them.
func Config() (*rest.Config, error) {
	ctrl.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w (set KUBECONFIG)", err)
	}
	return cfg, nil
}

// NewClient is a client for cfg that knows the core and Gateway API types, and its scheme.
func NewClient(cfg *rest.Config) (client.Client, *runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), gwv1.Install(scheme)); err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	return c, scheme, nil
}

// WaitNamespace returns once namespace ns is absent or not terminating: a namespace still
// terminating from an earlier run accepts no new objects.
func WaitNamespace(ctx context.Context, c client.Client, ns string) error {
	for {
		cur := &corev1.Namespace{}
		err := c.Get(ctx, types.NamespacedName{Name: ns}, cur)
		if apierrors.IsNotFound(err) || (err == nil && cur.DeletionTimestamp == nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get namespace %s: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is still terminating: %w", ns, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Gateway is the benchmark's Gateway: one HTTP listener on port 80 for routes of its own
// namespace.
func Gateway(ns, name, class string) *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: gwv1.ObjectName(class),
			Listeners: []gwv1.Listener{{
				Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80,
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(gwv1.NamespacesFromSame)}},
			}},
		},
	}
}
