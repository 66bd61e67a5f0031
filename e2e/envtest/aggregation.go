package envtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// FrontProxyClientName is the common name of the client certificate the kube-apiserver
// presents to aggregated API servers; they accept identity headers only from it.
const FrontProxyClientName = "front-proxy-client"

// configureAggregation sets the kube-apiserver flags API aggregation needs: a front-proxy
// (requestheader) CA, the client certificate the kube-apiserver presents to aggregated
// servers, and the identity header names, with the certificates written to pki. The
// kube-apiserver publishes them in kube-system/extension-apiserver-authentication, where an
// aggregated server with delegated authentication reads them.
func configureAggregation(env *ctrlenvtest.Environment, pki string) error {
	caFile, certFile, keyFile, err := writeFrontProxyPKI(pki)
	if err != nil {
		return err
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("requestheader-client-ca-file", caFile)
	args.Set("requestheader-allowed-names", FrontProxyClientName)
	args.Set("requestheader-username-headers", "X-Remote-User")
	args.Set("requestheader-group-headers", "X-Remote-Group")
	args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
	args.Set("proxy-client-cert-file", certFile)
	args.Set("proxy-client-key-file", keyFile)
	return nil
}

// APIServiceTarget is an aggregated API server running in the test process.
type APIServiceTarget struct {
	Group, Version string
	// Port the server listens on, on localhost.
	Port int32
	// CABundle verifies the server's certificate, which must be valid for
	// <ServiceName>.<ServiceNamespace>.svc.
	CABundle         []byte
	ServiceName      string
	ServiceNamespace string
}

// RegisterAPIService routes Group/Version from the kube-apiserver to an aggregated server in
// the test process, and waits until the kube-apiserver reports it Available.
//
// There are no nodes or endpoints in envtest, and EndpointSlices may not point at loopback, so
// the APIService names a Service of type ExternalName "localhost": the aggregator resolves an
// ExternalName Service to externalName:port and dials it, still verifying the server
// certificate against CABundle for the name <service>.<namespace>.svc and still presenting
// the front-proxy client certificate with the user's identity headers. Everything past
// service resolution is the production path.
func RegisterAPIService(t testing.TB, env *Env, target APIServiceTarget) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: target.ServiceNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", target.ServiceNamespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: target.ServiceName, Namespace: target.ServiceNamespace},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: target.Port}},
		},
	}
	if _, err := cs.CoreV1().Services(target.ServiceNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service: %v", err)
	}

	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	name := target.Version + "." + target.Group
	apisvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group":                target.Group,
			"version":              target.Version,
			"groupPriorityMinimum": int64(1000),
			"versionPriority":      int64(15),
			"caBundle":             base64.StdEncoding.EncodeToString(target.CABundle),
			"service": map[string]any{
				"name":      target.ServiceName,
				"namespace": target.ServiceNamespace,
				"port":      int64(target.Port),
			},
		},
	}}
	if _, err := dyn.Resource(gvr).Create(ctx, apisvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create APIService %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete APIService %s: %v", name, err)
		}
	})
	var last string
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, err := unstructured.NestedSlice(got.Object, "status", "conditions")
		if err != nil {
			return false, fmt.Errorf("%s status.conditions: %w", name, err)
		}
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				last = fmt.Sprintf("%v: %v", m["reason"], m["message"])
				return m["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("APIService %s not Available: %s", name, last)
	}
}

// writeFrontProxyPKI writes a CA and a client certificate for FrontProxyClientName signed by
// it, and returns the file paths.
func writeFrontProxyPKI(dir string) (caFile, certFile, keyFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "front-proxy-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return "", "", "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: FrontProxyClientName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return "", "", "", err
	}
	caFile = filepath.Join(dir, "front-proxy-ca.crt")
	certFile = filepath.Join(dir, "front-proxy-client.crt")
	keyFile = filepath.Join(dir, "front-proxy-client.key")
	if err := writePEM(caFile, "CERTIFICATE", caDER); err != nil {
		return "", "", "", err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(crypto.PrivateKey(key))
	if err != nil {
		return "", "", "", err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
		return "", "", "", err
	}
	return caFile, certFile, keyFile, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
