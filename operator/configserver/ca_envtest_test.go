package configserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/e2e/envtest"
	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// TestCAKeeperRotation runs two replicas' keepers against a real kube-apiserver through a
// CA's life: both agree on one next CA when its rotation falls due at once, it signs after
// the propagation delay with the replaced CA still trusted until it expires, a deleted
// Secret and an administrator's CA are rotated in without proxies ever meeting an
// untrusted CA, and Run sees the Secret change through its watch.
func TestCAKeeperRotation(t *testing.T) {
	env := envtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.NewWithWatch(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "agentgateway-system"}}); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "agentgateway-system", Name: CASecretName}
	clock := &testClock{now: time.Now()}
	secret := func() *corev1.Secret {
		t.Helper()
		var sec corev1.Secret
		if err := c.Get(ctx, key, &sec); err != nil {
			t.Fatal(err)
		}
		return &sec
	}
	const lifetime, propagation = 30 * 24 * time.Hour, time.Hour
	// Whether every proxy's bundle holds the next CA (the operator lists the ConfigMaps).
	var published atomic.Bool
	published.Store(true)
	replica := func() *CAKeeper {
		return &CAKeeper{Client: c, Key: key, Lifetime: lifetime, Propagation: propagation, Now: clock.Now,
			Published: func(ctx context.Context, cert []byte) (bool, string, error) {
				var sec corev1.Secret
				if err := c.Get(ctx, key, &sec); err != nil {
					return false, "", err
				}
				if !bytes.Contains(sec.Data[CANextCertKey], cert) {
					return false, "", errors.New("asked about another certificate than the next CA")
				}
				if !published.Load() {
					return false, "apps/web-agentgateway-xds-ca", nil
				}
				return true, "", nil
			}}
	}
	a, b := replica(), replica()
	ca1, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.Load(ctx); err != nil || !st.Signing.Cert.Equal(ca1.Signing.Cert) {
		t.Fatalf("second replica: %v, same CA %v", err, err == nil && st.Signing.Cert.Equal(ca1.Signing.Cert))
	}
	// syncBoth syncs both replicas at once and checks they agree.
	syncBoth := func(what string) CAState {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, k := range []*CAKeeper{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = k.sync(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		// The replica that lost a race adopted what the winner wrote; a last sync of the
		// winner reads it back unchanged.
		if _, err := a.sync(ctx); err != nil {
			t.Fatal(err)
		}
		sa, sb := a.State(), b.State()
		if !sa.Signing.Cert.Equal(sb.Signing.Cert) || !bytes.Equal(sa.Bundle, sb.Bundle) {
			t.Fatalf("%s: replicas disagree:\n%s\n%s", what, describe(sa), describe(sb))
		}
		return sa
	}

	// Nothing is due: nothing changes.
	rv := secret().ResourceVersion
	syncBoth("steady")
	if secret().ResourceVersion != rv {
		t.Fatal("the Secret was written although nothing was due")
	}

	// A third of the lifetime left: both replicas decide to rotate; one next CA results.
	clock.Set(ca1.Signing.Cert.NotAfter.Add(-lifetime/3 + time.Minute))
	st := syncBoth("rotation due")
	sec := secret()
	next, err := streamcert.ParseCA(sec.Data[CANextCertKey], sec.Data[CANextKeyKey])
	if err != nil {
		t.Fatalf("no next CA after rotation was due: %v", err)
	}
	if !st.Signing.Cert.Equal(ca1.Signing.Cert) {
		t.Fatal("the next CA signs before proxies were given time to trust it")
	}
	wantBundle(t, "staged", st.Bundle, ca1.Signing.Cert, next.Cert)

	// Within the propagation delay nothing changes; after it the next CA signs and the
	// replaced one stays trusted.
	clock.Set(clock.Now().Add(propagation - time.Minute))
	if st = syncBoth("within propagation"); !st.Signing.Cert.Equal(ca1.Signing.Cert) {
		t.Fatal("the next CA signs before the propagation delay")
	}
	clock.Set(clock.Now().Add(2 * time.Minute))
	// A proxy ConfigMap without the next CA holds the rotation back.
	published.Store(false)
	if st = syncBoth("after propagation, not published"); !st.Signing.Cert.Equal(ca1.Signing.Cert) {
		t.Fatal("the next CA signs before every proxy bundle holds it")
	}
	published.Store(true)
	st = syncBoth("after propagation")
	if !st.Signing.Cert.Equal(next.Cert) {
		t.Fatalf("the next CA does not sign after the propagation delay: %s", describe(st))
	}
	wantBundle(t, "promoted", st.Bundle, next.Cert, ca1.Signing.Cert)
	sec = secret()
	if !bytes.Equal(sec.Data[CACertKey], next.CertPEM) || len(sec.Data[CANextCertKey]) != 0 || !bytes.Equal(sec.Data[CAPreviousKey], ca1.Signing.CertPEM) {
		t.Fatalf("Secret after promotion: keys %v", keys(sec.Data))
	}

	// The replaced CA expires: it leaves the Secret and the bundle.
	clock.Set(ca1.Signing.Cert.NotAfter.Add(time.Second))
	st = syncBoth("replaced CA expired")
	wantBundle(t, "expired", st.Bundle, next.Cert)
	if len(secret().Data[CAPreviousKey]) != 0 {
		t.Fatal("the expired CA is still in the Secret")
	}

	// Run: an administrator deletes the Secret. The replica recreates it with the CA
	// proxies trust still signing and a new next CA, and reports the bundle.
	changes := make(chan CAState, 16)
	a.OnChange = func(s CAState) { changes <- s }
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()
	if err := c.Delete(ctx, secret()); err != nil {
		t.Fatal(err)
	}
	st = waitChange(t, changes, "after the Secret was deleted")
	if !st.Signing.Cert.Equal(next.Cert) {
		t.Fatalf("a deleted Secret changed the signing CA at once: %s", describe(st))
	}
	sec = secret()
	ca3, err := streamcert.ParseCA(sec.Data[CANextCertKey], sec.Data[CANextKeyKey])
	if err != nil {
		t.Fatalf("recreated Secret has no next CA: %v", err)
	}
	wantBundle(t, "recreated", st.Bundle, next.Cert, ca3.Cert)

	// An administrator replaces the CA: it becomes the next CA, the known one keeps signing.
	admin, err := streamcert.NewCAAt("admin-ca", clock.Now(), lifetime)
	if err != nil {
		t.Fatal(err)
	}
	sec = secret()
	sec.Data = map[string][]byte{CACertKey: admin.CertPEM, CAKeyKey: admin.KeyPEM}
	delete(sec.Annotations, CANextSinceAnnotation)
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	for {
		st = waitChange(t, changes, "after the administrator's CA")
		if bytes.Contains(st.Bundle, admin.CertPEM) {
			break
		}
	}
	if !st.Signing.Cert.Equal(next.Cert) {
		t.Fatalf("the administrator's CA signs before proxies trust it: %s", describe(st))
	}
	wantBundle(t, "administrator's CA", st.Bundle, next.Cert, admin.Cert)
	stopRun()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

func waitChange(t *testing.T, ch <-chan CAState, what string) CAState {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(30 * time.Second):
		t.Fatalf("no CA change %s", what)
		return CAState{}
	}
}

func wantBundle(t *testing.T, what string, bundle []byte, want ...*x509.Certificate) {
	t.Helper()
	got := streamcert.ParseCertificates(bundle)
	if len(got) != len(want) {
		t.Fatalf("%s: bundle has %d certificates, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("%s: bundle certificate %d is %s (serial %s), want serial %s", what, i, got[i].Subject.CommonName, got[i].SerialNumber, want[i].SerialNumber)
		}
	}
}

func describe(s CAState) string {
	out := "signing " + s.Signing.Cert.SerialNumber.String() + ", bundle"
	for _, c := range streamcert.ParseCertificates(s.Bundle) {
		out += " " + c.SerialNumber.String()
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
