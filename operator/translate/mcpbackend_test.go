package translate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agwv1a1 "github.com/agentgateway/agentgateway-go/apis/agentgateway/v1alpha1"
)

// TestMCPSessionKey: the key sealing a backend's MCP sessions depends on the operator's
// secret, not only on what anyone reading the backend sees, and differs per backend.
func TestMCPSessionKey(t *testing.T) {
	be := &agwv1a1.AgentgatewayBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "tools", UID: "u1"}}
	other := &agwv1a1.AgentgatewayBackend{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "tools", UID: "u2"}}
	s1, s2 := []byte(strings.Repeat("1", 32)), []byte(strings.Repeat("2", 32))
	k1, err := mcpSessionKey(s1, be)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := mcpSessionKey(s1, be); err != nil || again != k1 {
		t.Fatalf("same secret and backend: %q, %v; want %q", again, err, k1)
	}
	if k, err := mcpSessionKey(s2, be); err != nil || k == k1 {
		t.Fatalf("another secret gave %q, %v", k, err)
	}
	if k, err := mcpSessionKey(s1, other); err != nil || k == k1 {
		t.Fatalf("a recreated backend gave %q, %v", k, err)
	}
	if _, err := mcpSessionKey(nil, be); err == nil || !strings.Contains(err.Error(), "session secret") {
		t.Fatalf("no secret: err = %v", err)
	}
}
