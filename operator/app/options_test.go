package app

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestOptionsFromManifestArgs(t *testing.T) {
	// The args of manifests/operator/deployment.yaml, with $(POD_NAMESPACE) expanded.
	args := []string{"--leader-elect", "--namespace=agentgateway-system", "--proxy-image=ghcr.io/agentgateway-go/proxy:dev", "--xds-address=agentgateway-xds.agentgateway-system.svc:9977"}
	var o Options
	fs := flag.NewFlagSet("operator", flag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := o.Complete(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.LeaderElect || c.Namespace != "agentgateway-system" || c.Deployer.XDSAddress != "agentgateway-xds.agentgateway-system.svc:9977" ||
		c.MetricsAddr != ":8080" || c.HealthAddr != ":8081" || c.XDSBindAddr != ":9977" || c.WebhookPort != 9443 || c.APIBindAddr != ":8443" || c.PprofAddr != "" {
		t.Fatalf("config %+v", c.Options)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{LeaderElect: true, LogFormat: "xml", XDSBindAddr: ":9977"}
	err := o.Validate()
	for _, want := range []string{"--namespace", "--proxy-image", "--xds-address", "--log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a complaint about %s", err, want)
		}
	}
}

func TestOptionsValidateCARotation(t *testing.T) {
	o := Options{ProxyImage: "p", XDSAddress: "xds:9977", XDSBindAddr: ":9977", LogFormat: "json", XDSCALifetime: time.Hour, XDSCAPropagation: 30 * time.Minute}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--xds-ca-propagation") {
		t.Fatalf("propagation longer than a third of the lifetime: %v", err)
	}
	o.XDSCAPropagation = 5 * time.Minute
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}
