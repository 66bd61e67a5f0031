package app

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
)

// TestSessionSecretSharedByReplicas: replicas that start together against a real apiserver
// all get the one secret that was created, a later start reads the same, and a Secret with
// too short a value is refused rather than used.
func TestSessionSecretSharedByReplicas(t *testing.T) {
	env := envtest.Start(t)
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agw"}}); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "agw", Name: SessionSecretName}

	const replicas = 4
	got := make([][]byte, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { got[i], errs[i] = sessionSecret(ctx, c, key) })
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if len(got[i]) != sessionSecretLen || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("replica %d got %x, replica 0 got %x", i, got[i], got[0])
		}
	}
	var s corev1.Secret
	if err := c.Get(ctx, key, &s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Data[SessionSecretKey], got[0]) {
		t.Fatalf("Secret holds %x, replicas use %x", s.Data[SessionSecretKey], got[0])
	}
	again, err := sessionSecret(ctx, c, key)
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Fatalf("restart read %x, %v; want %x", again, err, got[0])
	}

	s.Data[SessionSecretKey] = []byte("short")
	if err := c.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if _, err := sessionSecret(ctx, c, key); err == nil || !strings.Contains(err.Error(), "need at least 32") {
		t.Fatalf("short secret: err = %v, want a refusal", err)
	}
}
