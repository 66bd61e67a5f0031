package deployer

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// TestRenderImageAndLogging covers the AgentgatewayParameters fields no golden input sets:
// image.repository alone keeps the operator's registry and tag, image.pullPolicy reaches the
// container, and logging.format, logging.level and logging.accessLog become the proxy's flags
// (the access log on by default).
func TestRenderImageAndLogging(t *testing.T) {
	params := &agwv1a1.AgentgatewayParametersSpec{
		Image:   &agwv1a1.Image{Repository: ptr.To("mirror/agw-proxy"), PullPolicy: ptr.To(corev1.PullAlways)},
		Logging: &agwv1a1.Logging{Format: ptr.To(agwv1a1.LogFormat("text")), Level: ptr.To(agwv1a1.LogLevel("debug")), AccessLog: ptr.To(agwv1a1.AccessLogDisabled)},
	}
	c := find[*appsv1.Deployment](t, mustRender(t, testInput(params))).Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/mirror/agw-proxy:dev" {
		t.Errorf("image %q, want ghcr.io/mirror/agw-proxy:dev", c.Image)
	}
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("imagePullPolicy %q, want Always", c.ImagePullPolicy)
	}
	for _, want := range []string{"--log-format=text", "--log-level=debug", "--access-log=false"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}

	c = find[*appsv1.Deployment](t, mustRender(t, testInput(nil))).Spec.Template.Spec.Containers[0]
	if c.Image != testOptions.ProxyImage || c.ImagePullPolicy != "" || !slices.Contains(c.Args, "--log-format=json") || !slices.Contains(c.Args, "--log-level=info") || !slices.Contains(c.Args, "--access-log=true") {
		t.Errorf("defaults: image %q, pull policy %q, args %q", c.Image, c.ImagePullPolicy, c.Args)
	}
}
