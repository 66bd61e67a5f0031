package configserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/proxy/configstream/streamcert"
)

// CASecretName is the Secret, in the operator's namespace, holding the CAs of the config
// stream (see CAKeeper for its keys). Keys never leave the operator namespace; proxies get
// the certificates only (CAState.Bundle).
const CASecretName = "agentgateway-xds-ca"

// CA Secret keys.
const (
	// CACertKey and CAKeyKey hold the CA that signs the config servers' certificates.
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"
	// CANextCertKey and CANextKeyKey hold the CA that replaces it once proxies trust it.
	CANextCertKey = "next.crt"
	CANextKeyKey  = "next.key"
	// CAPreviousKey holds the certificates of replaced CAs until they expire: proxies keep
	// trusting them while certificates they signed may still be served.
	CAPreviousKey = "previous.crt"
	// CANextSinceAnnotation is when the next CA was added (RFC 3339): it signs from
	// CAKeeper.Propagation after.
	CANextSinceAnnotation = "agentgateway.dev/xds-ca-next-since"
)

// caName is the common name of the CAs the keeper generates.
const caName = "agentgateway-xds-ca"

// CAState is what the keeper hands the operator: the CA that signs serving certificates
// now, and the bundle proxies must trust (every valid CA certificate of the Secret).
type CAState struct {
	Signing *streamcert.CA
	// Bundle is the PEM certificates of the signing, next and previous CAs.
	Bundle []byte
}

// CAKeeper keeps the config stream's CA Secret and rotates its CA without interrupting
// anyone:
//
//   - A CA is valid for Lifetime. When a third of it is left, a next CA is generated and
//     stored beside it (next.crt, next.key, CANextSinceAnnotation); from then on the
//     bundle published to proxies (CAState.Bundle) trusts both.
//   - Once the next CA is in every proxy's bundle (Published) and Propagation has passed
//     since it was added, it becomes the signing CA and the replaced CA's certificate
//     moves to previous.crt, where it stays, and in the bundle, until it expires. Every
//     replica re-issues its serving certificate from the new CA at once; open streams
//     keep theirs (TLS is checked at the handshake only).
//   - Rule: the new CA signs only when every proxy ConfigMap holds it and Propagation has
//     passed, which must cover the kubelet refreshing the mounted file (about a minute by
//     default; proxies read it at each dial). A ConfigMap that is never updated holds the
//     rotation back (the keeper logs which) until the signing CA expires.
//   - A deleted Secret is recreated with the CA the replica knows as signing CA and a new
//     next CA; a Secret whose CA an administrator replaced keeps the known CA signing and
//     takes the administrator's as next CA. Either way proxies never meet a CA they do not
//     trust yet.
//
// Replicas share the Secret: every write is conditioned on the resourceVersion read, so
// of two replicas deciding to rotate at once one writes and the other, on the conflict,
// reads the winner's next CA and adopts it.
type CAKeeper struct {
	Client client.WithWatch
	Key    types.NamespacedName
	// Lifetime of the CAs generated (default streamcert.CALifetime).
	Lifetime time.Duration
	// Propagation is how long a next CA is trusted before it signs (default 5 minutes).
	Propagation time.Duration
	// Published, if set, reports whether every proxy's CA bundle holds the certificate
	// (PEM), and if not, which does not: the next CA signs only once it does.
	Published func(ctx context.Context, cert []byte) (bool, string, error)
	Log       *slog.Logger
	// OnChange is called (from Run) whenever the signing CA or the bundle changes.
	OnChange func(CAState)
	// Now defaults to time.Now (tests move the clock).
	Now func() time.Time

	mu    sync.Mutex
	known *caSet
	state CAState
}

// caSet is the CA Secret's content.
type caSet struct {
	current   *streamcert.CA
	next      *streamcert.CA
	nextSince time.Time
	previous  []*x509.Certificate
}

func (k *CAKeeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *CAKeeper) lifetime() time.Duration {
	if k.Lifetime > 0 {
		return k.Lifetime
	}
	return streamcert.CALifetime
}

func (k *CAKeeper) propagation() time.Duration {
	if k.Propagation > 0 {
		return k.Propagation
	}
	return 5 * time.Minute
}

func (k *CAKeeper) log() *slog.Logger {
	if k.Log != nil {
		return k.Log
	}
	return slog.New(slog.DiscardHandler)
}

// State is the current signing CA and bundle (zero before Load).
func (k *CAKeeper) State() CAState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state
}

// Load reads the Secret, creating or completing it as the rules say (the first replica of
// a cluster generates the CA), and returns the state. A CA the Secret holds that does not
// parse is an error: the Secret is not replaced behind the proxies' back.
func (k *CAKeeper) Load(ctx context.Context) (CAState, error) {
	if _, err := k.sync(ctx); err != nil {
		return CAState{}, err
	}
	return k.State(), nil
}

// Run keeps the Secret until ctx ends: it watches it, applies the rules when it changes
// and when a rotation step is due, and calls OnChange. Load must have succeeded first.
func (k *CAKeeper) Run(ctx context.Context) error {
	log := k.log()
	for ctx.Err() == nil {
		w, err := k.Client.Watch(ctx, &corev1.SecretList{}, client.InNamespace(k.Key.Namespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", k.Key.Name)})
		if err != nil {
			log.Error("watch config server CA Secret; retrying", "error", err)
			if !sleepCtx(ctx, 5*time.Second) {
				return nil
			}
			continue
		}
		started := time.Now()
		k.runWatch(ctx, w)
		w.Stop()
		// A watch the apiserver ends at once (or keeps ending) must not become a busy loop.
		if time.Since(started) < time.Second && !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	return nil
}

// runWatch syncs after each event of w and whenever a rotation step is due, until w ends.
func (k *CAKeeper) runWatch(ctx context.Context, w watch.Interface) {
	log := k.log()
	for {
		due, err := k.sync(ctx)
		if err != nil {
			log.Error("keep config server CA Secret; retrying", "error", err)
			due = k.now().Add(10 * time.Second)
		}
		timer := time.NewTimer(max(due.Sub(k.now()), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case _, ok := <-w.ResultChan():
			timer.Stop()
			if !ok {
				return
			}
		case <-timer.C:
		}
	}
}

// sync brings the Secret in line with the rules and updates the state; it returns when the
// next rotation step is due.
func (k *CAKeeper) sync(ctx context.Context) (time.Time, error) {
	for attempt := 0; attempt < 5; attempt++ {
		var sec corev1.Secret
		err := k.Client.Get(ctx, k.Key, &sec)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return time.Time{}, fmt.Errorf("read config server CA Secret %s: %w", k.Key, err)
		}
		var have caSet
		if exists {
			if have, err = parseCASet(&sec); err != nil {
				return time.Time{}, fmt.Errorf("config server CA in Secret %s: %w (delete the Secret to have a new CA generated)", k.Key, err)
			}
		}
		k.mu.Lock()
		known := k.known
		k.mu.Unlock()
		published := true
		if have.next != nil && k.Published != nil && !k.now().Before(have.nextSince.Add(k.propagation())) {
			ok, missing, err := k.Published(ctx, have.next.CertPEM)
			switch {
			case err != nil:
				k.log().Error("check that proxies were given the next config server CA; not rotating yet", "error", err)
				published = false
			case !ok:
				k.log().Warn("next config server CA not in every proxy's bundle yet; not rotating", "missing", missing)
				published = false
			}
		}
		want, err := k.plan(have, known, published)
		if err != nil {
			return time.Time{}, err
		}
		data, ann := want.encode()
		switch {
		case !exists:
			sec = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: k.Key.Name, Namespace: k.Key.Namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "agentgateway"}},
				Type:       corev1.SecretTypeOpaque,
			}
			setCASecret(&sec, data, ann)
			if err := k.Client.Create(ctx, &sec); err != nil {
				if apierrors.IsAlreadyExists(err) {
					continue
				}
				return time.Time{}, fmt.Errorf("create config server CA Secret %s: %w", k.Key, err)
			}
			k.log().Info("created config server CA Secret", "secret", k.Key, "next_ca", want.next != nil)
		case !sameCASecret(&sec, data, ann):
			setCASecret(&sec, data, ann)
			// Update carries the resourceVersion read: a concurrent writer makes it conflict.
			if err := k.Client.Update(ctx, &sec); err != nil {
				if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
					continue
				}
				return time.Time{}, fmt.Errorf("write config server CA Secret %s: %w", k.Key, err)
			}
			k.log().Info("updated config server CA Secret", "secret", k.Key, "signing_ca_expires", want.current.Cert.NotAfter, "next_ca", want.next != nil, "previous_cas", len(want.previous))
		}
		k.adopt(want)
		due := k.due(want)
		if !published {
			due = k.now().Add(10 * time.Second)
		}
		return due, nil
	}
	return time.Time{}, fmt.Errorf("config server CA Secret %s: changed concurrently five times; retrying", k.Key)
}

// adopt makes want the known state and reports a change of signing CA or bundle.
func (k *CAKeeper) adopt(want caSet) {
	st := CAState{Signing: want.current, Bundle: want.bundle(k.now())}
	k.mu.Lock()
	old := k.state
	k.known = &want
	k.state = st
	k.mu.Unlock()
	if old.Signing != nil && old.Signing.Cert.Equal(st.Signing.Cert) && bytes.Equal(old.Bundle, st.Bundle) {
		return
	}
	if old.Signing != nil && !old.Signing.Cert.Equal(st.Signing.Cert) {
		k.log().Info("config server CA rotated: new serving certificates are signed by the next CA", "expires", st.Signing.Cert.NotAfter)
	}
	if k.OnChange != nil {
		k.OnChange(st)
	}
}

// plan applies the rules to the Secret's content have (zero when missing) given what this
// replica knew (nil at start) and whether have's next CA reached every proxy.
func (k *CAKeeper) plan(have caSet, known *caSet, published bool) (caSet, error) {
	now := k.now()
	knownValid := known != nil && known.current != nil && now.Before(known.current.Cert.NotAfter)
	switch {
	case have.current == nil && knownValid:
		// Deleted (or emptied): keep signing with the CA proxies trust; rotate.
		have = caSet{current: known.current, next: known.next, nextSince: known.nextSince, previous: known.previous}
		if err := k.stage(&have, now); err != nil {
			return caSet{}, err
		}
	case have.current == nil:
		ca, err := streamcert.NewCAAt(caName, now, k.lifetime())
		if err != nil {
			return caSet{}, err
		}
		have.current = ca
	case knownValid && !have.current.Cert.Equal(known.current.Cert) && (known.next == nil || !have.current.Cert.Equal(known.next.Cert)) &&
		!slices.ContainsFunc(have.previous, known.current.Cert.Equal):
		// An administrator replaced the CA (a replica's rotation would have retired the known
		// one to previous.crt): it signs once proxies trust it.
		admin := have.current
		have.current = known.current
		have.next, have.nextSince = admin, now
	}
	if !now.Before(have.current.Cert.NotAfter) {
		// Expired (the operator was down past its expiry): nothing trusted remains to keep.
		if have.next != nil && now.Before(have.next.Cert.NotAfter) {
			have.current, have.next = have.next, nil
		} else {
			ca, err := streamcert.NewCAAt(caName, now, k.lifetime())
			if err != nil {
				return caSet{}, err
			}
			have.current, have.next = ca, nil
		}
	}
	if have.next != nil && published && !now.Before(have.nextSince.Add(k.propagation())) {
		have.previous = append(have.previous, have.current.Cert)
		have.current, have.next = have.next, nil
	}
	if have.next == nil && !now.Before(k.rotateAt(have.current.Cert)) {
		if err := k.stage(&have, now); err != nil {
			return caSet{}, err
		}
	}
	have.previous = slices.DeleteFunc(have.previous, func(c *x509.Certificate) bool {
		return !now.Before(c.NotAfter) || c.Equal(have.current.Cert) || (have.next != nil && c.Equal(have.next.Cert))
	})
	return have, nil
}

// stage adds a new next CA unless there is one.
func (k *CAKeeper) stage(s *caSet, now time.Time) error {
	if s.next != nil {
		return nil
	}
	ca, err := streamcert.NewCAAt(caName, now, k.lifetime())
	if err != nil {
		return err
	}
	s.next, s.nextSince = ca, now
	return nil
}

// rotateAt is when a next CA is added for a CA: when a third of its lifetime is left.
func (k *CAKeeper) rotateAt(c *x509.Certificate) time.Time {
	life := min(k.lifetime(), c.NotAfter.Sub(c.NotBefore))
	return c.NotAfter.Add(-life / 3)
}

// due is when the next rotation step of s falls due.
func (k *CAKeeper) due(s caSet) time.Time {
	at := k.rotateAt(s.current.Cert)
	if s.next != nil {
		at = s.nextSince.Add(k.propagation())
	}
	for _, c := range s.previous {
		if c.NotAfter.Before(at) {
			at = c.NotAfter
		}
	}
	// Check again at least hourly (clock jumps, long sleeps).
	return minTime(at, k.now().Add(time.Hour))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s caSet) bundle(now time.Time) []byte {
	all := []*x509.Certificate{s.current.Cert}
	if s.next != nil {
		all = append(all, s.next.Cert)
	}
	var certs []*x509.Certificate
	for _, c := range append(all, s.previous...) {
		if now.Before(c.NotAfter) {
			certs = append(certs, c)
		}
	}
	return streamcert.EncodeCertificates(certs...)
}

func (s caSet) encode() (map[string][]byte, map[string]string) {
	data := map[string][]byte{CACertKey: s.current.CertPEM, CAKeyKey: s.current.KeyPEM}
	ann := map[string]string{}
	if s.next != nil {
		data[CANextCertKey], data[CANextKeyKey] = s.next.CertPEM, s.next.KeyPEM
		ann[CANextSinceAnnotation] = s.nextSince.UTC().Format(time.RFC3339Nano)
	}
	if len(s.previous) > 0 {
		data[CAPreviousKey] = streamcert.EncodeCertificates(s.previous...)
	}
	return data, ann
}

func parseCASet(sec *corev1.Secret) (caSet, error) {
	var s caSet
	if len(sec.Data[CACertKey]) == 0 {
		return s, nil // empty (pre-created by a manifest): filled like a missing one
	}
	var err error
	if s.current, err = streamcert.ParseCA(sec.Data[CACertKey], sec.Data[CAKeyKey]); err != nil {
		return s, err
	}
	if len(sec.Data[CANextCertKey]) > 0 {
		if s.next, err = streamcert.ParseCA(sec.Data[CANextCertKey], sec.Data[CANextKeyKey]); err != nil {
			return s, fmt.Errorf("next CA: %w", err)
		}
		since, err := time.Parse(time.RFC3339Nano, sec.Annotations[CANextSinceAnnotation])
		if err != nil {
			return s, fmt.Errorf("next CA: annotation %s: %w", CANextSinceAnnotation, err)
		}
		s.nextSince = since
	}
	// Expiry is the planner's business: keep every certificate here.
	s.previous = streamcert.ParseCertificates(sec.Data[CAPreviousKey])
	return s, nil
}

func setCASecret(sec *corev1.Secret, data map[string][]byte, ann map[string]string) {
	sec.Data = data
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	delete(sec.Annotations, CANextSinceAnnotation)
	for k, v := range ann {
		sec.Annotations[k] = v
	}
}

func sameCASecret(sec *corev1.Secret, data map[string][]byte, ann map[string]string) bool {
	if len(sec.Data) != len(data) || sec.Annotations[CANextSinceAnnotation] != ann[CANextSinceAnnotation] {
		return false
	}
	for k, v := range data {
		if !bytes.Equal(sec.Data[k], v) {
			return false
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
