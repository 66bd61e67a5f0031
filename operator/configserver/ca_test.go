package configserver

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

func TestCAKeeperLoad(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "agentgateway-system", Name: CASecretName}
	c := fake.NewClientBuilder().Build()
	first, err := (&CAKeeper{Client: c, Key: key}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := (&CAKeeper{Client: c, Key: key}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Signing.CertPEM, again.Signing.CertPEM) || !bytes.Equal(first.Bundle, first.Signing.CertPEM) {
		t.Fatal("a second replica got another CA")
	}
	var sec corev1.Secret
	if err := c.Get(ctx, key, &sec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sec.Data[CACertKey], first.Signing.CertPEM) || len(sec.Data[CAKeyKey]) == 0 {
		t.Fatalf("Secret data %v", sec.Data)
	}
	if life := time.Until(first.Signing.Cert.NotAfter); life < streamcert.CALifetime-time.Hour || life > streamcert.CALifetime {
		t.Errorf("CA valid for %s, want %s", life, streamcert.CALifetime)
	}

	// A Secret a manifest made empty is filled.
	empty := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}).Build()
	filled, err := (&CAKeeper{Client: empty, Key: key}).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Get(ctx, key, &sec); err != nil || !bytes.Equal(sec.Data[CACertKey], filled.Signing.CertPEM) {
		t.Fatalf("empty Secret not filled: %v %v", err, sec.Data)
	}

	// A broken CA is reported, not replaced behind the proxies' back.
	broken := fake.NewClientBuilder().WithObjects(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Data: map[string][]byte{CACertKey: []byte("junk")}}).Build()
	if _, err := (&CAKeeper{Client: broken, Key: key}).Load(ctx); err == nil || !strings.Contains(err.Error(), "delete the Secret") {
		t.Fatalf("broken CA: %v", err)
	}
}

func TestServeRefusesPlaintext(t *testing.T) {
	s, err := New(allowAll, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "never served in plaintext") {
		t.Fatalf("Serve without a certificate: %v", err)
	}
}
