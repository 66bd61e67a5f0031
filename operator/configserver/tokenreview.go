package configserver

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authnv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgateway/agentgateway-go/proxy/configstream"
)

// Audience is the audience of the projected token the deployer mounts into proxies; a
// token minted for the Kubernetes API itself is refused, so a leaked API token cannot be
// replayed here and ours cannot be replayed against the API.
const Audience = "agentgateway"

// podNameExtra is where the apiserver puts the pod a projected token is bound to.
const podNameExtra = "authentication.kubernetes.io/pod-name"

// TokenReviewer is a configstream.Authenticator backed by the TokenReview API. A token may
// read a Gateway's config only if it belongs to ServiceAccountName(gateway) in the
// Gateway's namespace and, when bound to a pod, to the pod the proxy claims to be.
type TokenReviewer struct {
	Client client.Client
	// ServiceAccountName maps a Gateway name to its proxies' ServiceAccount (the deployer's
	// naming).
	ServiceAccountName func(gateway string) string
	// CacheTTL bounds how long a positive review is reused (reconnect storms after an
	// operator restart would otherwise send one TokenReview per proxy). Default 1 minute.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cachedReview
}

type cachedReview struct {
	status  authnv1.TokenReviewStatus
	expires time.Time
}

var _ configstream.Authenticator = (*TokenReviewer)(nil)

// Authenticate implements configstream.Authenticator.
func (r *TokenReviewer) Authenticate(ctx context.Context, token string, node configstream.Node) error {
	st, err := r.review(ctx, token)
	if err != nil {
		return status.Errorf(codes.Unavailable, "token review failed, retry later: %v", err)
	}
	if !st.Authenticated {
		return status.Errorf(codes.Unauthenticated, "service account token rejected: %s", st.Error)
	}
	if !slices.Contains(st.Audiences, Audience) {
		return status.Errorf(codes.Unauthenticated, "token audience %v does not include %q; mount a projected token with that audience", st.Audiences, Audience)
	}
	want := fmt.Sprintf("system:serviceaccount:%s:%s", node.Namespace, r.ServiceAccountName(node.Gateway))
	if st.User.Username != want {
		return status.Errorf(codes.PermissionDenied, "%s may not read the config of gateway %s/%s (only %s may)", st.User.Username, node.Namespace, node.Gateway, want)
	}
	if pods := st.User.Extra[podNameExtra]; len(pods) > 0 && pods[0] != node.Pod {
		return status.Errorf(codes.PermissionDenied, "token is bound to pod %s, not %s", pods[0], node.Pod)
	}
	return nil
}

func (r *TokenReviewer) review(ctx context.Context, token string) (authnv1.TokenReviewStatus, error) {
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && now.Before(c.expires) {
		r.mu.Unlock()
		return c.status, nil
	}
	r.mu.Unlock()

	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}}}
	if err := r.Client.Create(ctx, tr); err != nil {
		return authnv1.TokenReviewStatus{}, fmt.Errorf("create TokenReview: %w", err)
	}
	if tr.Status.Authenticated {
		ttl := r.CacheTTL
		if ttl <= 0 {
			ttl = time.Minute
		}
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[[32]byte]cachedReview{}
		}
		for k, c := range r.cache {
			if now.After(c.expires) {
				delete(r.cache, k)
			}
		}
		r.cache[key] = cachedReview{status: tr.Status, expires: now.Add(ttl)}
		r.mu.Unlock()
	}
	return tr.Status, nil
}
