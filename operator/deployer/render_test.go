package deployer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml")

// A golden input is YAML documents: the Gateway, then optionally AgentgatewayParameters
// named "class" (the class's) and/or "gateway" (the Gateway's).
func TestRenderGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	opts := Options{ProxyImage: "ghcr.io/agentgateway-go/proxy:dev", XDSAddress: "agentgateway-xds.agentgateway-system.svc:9977"}
	for _, in := range ins {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var input Input
			for _, doc := range strings.Split(string(data), "\n---\n") {
				var probe struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
					t.Fatal(err)
				}
				switch probe.Kind {
				case "Gateway":
					input.Gateway = &gwv1.Gateway{}
					mustUnmarshal(t, doc, input.Gateway)
				case "AgentgatewayParameters":
					p := &agwv1a1.AgentgatewayParameters{}
					mustUnmarshal(t, doc, p)
					if p.Name == "class" {
						input.ClassParams = &p.Spec
					} else {
						input.GatewayParams = &p.Spec
					}
				default:
					t.Fatalf("unexpected kind %q", probe.Kind)
				}
			}
			input.Ports = PortsFromListeners(input.Gateway)
			objs, err := Render(opts, input)
			var got bytes.Buffer
			if err != nil {
				got.WriteString("error: " + err.Error() + "\n")
			}
			for i, o := range objs {
				if i > 0 {
					got.WriteString("---\n")
				}
				b, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(want, got.Bytes()) {
				t.Errorf("%s differs from the rendering (go test -update to accept):\n%s", out, got.String())
			}
		})
	}
}

func mustUnmarshal(t *testing.T, doc string, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		t.Fatal(err)
	}
}

func TestRenderIsStable(t *testing.T) {
	gw := &gwv1.Gateway{Spec: gwv1.GatewaySpec{GatewayClassName: "c", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	gw.Name, gw.Namespace = "gw", "ns"
	in := Input{Gateway: gw, Ports: PortsFromListeners(gw)}
	a, _ := Render(Options{ProxyImage: "p"}, in)
	b, _ := Render(Options{ProxyImage: "p"}, in)
	for i := range a {
		if a[i].GetAnnotations()[HashAnnotation] != b[i].GetAnnotations()[HashAnnotation] {
			t.Fatalf("%s hash is not stable", a[i].GetName())
		}
	}
}

func TestProxyNameFitsDNSLabel(t *testing.T) {
	long := strings.Repeat("g", 70)
	if n := ProxyName(long); len(n) > 63 || n == ProxyName(long+"x") {
		t.Fatalf("ProxyName(%d chars) = %q", len(long), n)
	}
	if n := ProxyName("gw"); n != "gw-agentgateway" {
		t.Fatalf("ProxyName(gw) = %q", n)
	}
}
