package webhook

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestSecretFilesSync(t *testing.T) {
	dir := t.TempDir()
	key := types.NamespacedName{Namespace: "agentgateway-system", Name: "certs"}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Data: map[string][]byte{"ca.crt": []byte("CA1"), "tls.crt": []byte("CRT1")}}
	c := fake.NewClientBuilder().WithObjects(sec).Build()
	s := &secretFiles{reader: c, key: key, dir: dir}
	ctx := context.Background()

	// Incomplete Secret: tls.crt (what readiness looks for) must not appear without its key.
	if _, err := s.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls.crt")); !os.IsNotExist(err) {
		t.Fatalf("tls.crt written before tls.key exists: %v", err)
	}

	sec.Data["tls.key"] = []byte("KEY1")
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.sync(ctx); err != nil || !changed {
		t.Fatalf("sync: changed=%v err=%v; want a write", changed, err)
	}
	for name, want := range map[string]string{"ca.crt": "CA1", "tls.crt": "CRT1", "tls.key": "KEY1"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if changed, err := s.sync(ctx); err != nil || changed {
		t.Errorf("unchanged Secret: changed=%v err=%v; want no rewrite", changed, err)
	}

	// Rotation: new contents replace the files.
	sec.Data["tls.crt"], sec.Data["tls.key"] = []byte("CRT2"), []byte("KEY2")
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.sync(ctx); err != nil || !changed {
		t.Fatalf("rotation not written: changed=%v err=%v", changed, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "tls.crt")); err != nil || string(got) != "CRT2" {
		t.Errorf("tls.crt after rotation = %q, %v", got, err)
	}
}
