package images

import "testing"

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"registry.k8s.io/gateway-api/echo-basic:v1.5.1":     "registry.k8s.io/gateway-api/echo-basic",
		"registry.k8s.io/gateway-api/echo-basic@sha256:abc": "registry.k8s.io/gateway-api/echo-basic",
		"localhost:5000/x":              "localhost:5000/x",
		"localhost:5000/x:tag":          "localhost:5000/x",
		"ghcr.io/agentgateway-go/proxy": "ghcr.io/agentgateway-go/proxy",
	} {
		if got := Repository(in); got != want {
			t.Errorf("Repository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	e, ok := Lookup("registry.k8s.io/coredns/coredns:v1.12.2")
	if !ok {
		t.Fatal("coredns image missing from the table")
	}
	argv, err := Command(e, "/cache/coredns", nil, []string{"-conf", "/root/Corefile"})
	if err != nil || argv[0] != "/cache/coredns" || len(argv) != 3 {
		t.Fatalf("default entrypoint: %v %v", argv, err)
	}
	argv, err = Command(e, "/cache/coredns", []string{"/coredns"}, []string{"-x"})
	if err != nil || argv[0] != "/cache/coredns" || argv[1] != "-x" {
		t.Fatalf("entrypoint command: %v %v", argv, err)
	}
	argv, err = Command(e, "/cache/coredns", []string{"sh", "-c", "true"}, nil)
	if err != nil || argv[0] == "sh" {
		t.Fatalf("host command: %v %v", argv, err)
	}
	if _, err := Command(e, "/cache/coredns", []string{"/definitely/not/here"}, nil); err == nil {
		t.Fatal("missing command accepted")
	}
	if _, ok := Lookup("example.invalid/nothing:1"); ok {
		t.Fatal("unknown image found")
	}
}
