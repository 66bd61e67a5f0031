package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	viewsv1a1 "github.com/agentgateway/agentgateway-go/apis/views/v1alpha1"
)

// PeerPath is where a replica serves the proxies connected to it, for its peers. It is a
// non-resource URL on the aggregated API's secure port, behind the same delegated
// authentication and authorization: the operator's ServiceAccount needs
// `nonResourceURLs: ["/peers/v1/proxystatuses"], verbs: ["get"]`.
const PeerPath = "/peers/v1/proxystatuses"

// InstallPeerEndpoint serves, at PeerPath, the ProxyStatuses that replica self published
// (never what it imported from others, so imports do not echo between replicas).
func (s *Server) InstallPeerEndpoint(views *Views, self string) {
	s.Handler.NonGoRestfulMux.Handle(PeerPath, PeerHandler(views, self))
}

// PeerHandler is the handler InstallPeerEndpoint installs.
func PeerHandler(views *Views, self string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "only GET", http.StatusMethodNotAllowed)
			return
		}
		list := &viewsv1a1.ProxyStatusList{TypeMeta: metav1.TypeMeta{APIVersion: viewsv1a1.SchemeGroupVersion.String(), Kind: "ProxyStatusList"}}
		for _, p := range views.LocalProxyStatuses(self) {
			list.Items = append(list.Items, *p)
		}
		b, err := json.Marshal(list)
		if err != nil {
			http.Error(w, "encoding proxy statuses: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
}

// Peer is another operator replica.
type Peer struct {
	// Name is the replica's pod name: the partition its proxies are published under.
	Name string
	// URL is the base URL of its aggregated API server, for example https://10.0.0.5:8443.
	URL string
}

// PeerSyncer makes every replica serve the same ProxyStatuses: it polls each peer's
// PeerPath and publishes the answer under the peer's name. A peer that stops answering for
// StaleAfter, or leaves the peer list, has its proxies dropped (they reconnect to a live
// replica, which then reports them).
type PeerSyncer struct {
	Views *Views
	// Self is this replica's pod name; it is skipped in the peer list.
	Self string
	// Discover lists the replicas (EndpointSlicePeers in a cluster).
	Discover func(ctx context.Context) ([]Peer, error)
	// Client reaches peers over TLS (PeerClient).
	Client *http.Client
	// Token returns the bearer token to present (the ServiceAccount token, re-read for
	// rotation); nil sends none.
	Token func() (string, error)
	// Interval between polls; defaults to 5s.
	Interval time.Duration
	// StaleAfter drops a silent peer's proxies; defaults to 3 intervals.
	StaleAfter time.Duration
	Log        *slog.Logger

	lastOK map[string]time.Time
}

// Run polls until ctx is done.
func (s *PeerSyncer) Run(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = 5 * time.Second
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		s.SyncOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SyncOnce polls every peer once.
func (s *PeerSyncer) SyncOnce(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = 5 * time.Second
	}
	if s.StaleAfter <= 0 {
		s.StaleAfter = 3 * s.Interval
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.lastOK == nil {
		s.lastOK = map[string]time.Time{}
	}
	peers, err := s.Discover(ctx)
	if err != nil {
		s.Log.Warn("list operator replicas for proxystatus sharing", "err", err)
		return
	}
	now := time.Now()
	present := map[string]bool{}
	for _, p := range peers {
		if p.Name == s.Self || p.Name == "" {
			continue
		}
		present[p.Name] = true
		items, err := s.fetch(ctx, p)
		if err != nil {
			s.Log.Warn("fetch proxy statuses from replica", "replica", p.Name, "url", p.URL, "err", err)
			if last, ok := s.lastOK[p.Name]; ok && now.Sub(last) > s.StaleAfter {
				s.Views.PublishProxyStatuses(p.Name, nil)
				delete(s.lastOK, p.Name)
			}
			continue
		}
		s.Views.PublishProxyStatuses(p.Name, items)
		s.lastOK[p.Name] = now
	}
	for name := range s.lastOK {
		if !present[name] {
			s.Views.PublishProxyStatuses(name, nil)
			delete(s.lastOK, name)
		}
	}
}

func (s *PeerSyncer) fetch(ctx context.Context, p Peer) ([]*viewsv1a1.ProxyStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Interval)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+PeerPath, nil)
	if err != nil {
		return nil, err
	}
	if s.Token != nil {
		tok, err := s.Token()
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: the operator ServiceAccount needs get on nonResourceURL %s", resp.Status, PeerPath)
	}
	var list viewsv1a1.ProxyStatusList
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	out := make([]*viewsv1a1.ProxyStatus, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].Name == "" || list.Items[i].Namespace == "" {
			continue
		}
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// EndpointSlicePeers discovers the replicas behind the operator's Service from its
// EndpointSlices: every ready endpoint backed by a Pod, at the named port.
func EndpointSlicePeers(cs kubernetes.Interface, namespace, service, portName string) func(ctx context.Context) ([]Peer, error) {
	return func(ctx context.Context) ([]Peer, error) {
		slices, err := cs.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=" + service,
		})
		if err != nil {
			return nil, err
		}
		var peers []Peer
		for _, sl := range slices.Items {
			var port int32
			for _, p := range sl.Ports {
				if p.Port != nil && (portName == "" || (p.Name != nil && *p.Name == portName)) {
					port = *p.Port
					break
				}
			}
			if port == 0 {
				continue
			}
			for _, ep := range sl.Endpoints {
				if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
					continue
				}
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				peers = append(peers, Peer{
					Name: ep.TargetRef.Name,
					URL:  "https://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port))),
				})
			}
		}
		sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
		return peers, nil
	}
}

// PeerClient returns an HTTPS client that verifies peers against caFile for serverName (the
// Service DNS name the serving certificate is issued for, <service>.<namespace>.svc).
func PeerClient(caFile, serverName string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificates in " + caFile)
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12},
	}}, nil
}

// TokenFile returns a Token function reading a (rotated) ServiceAccount token file.
func TokenFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		return strings.TrimSpace(string(b)), err
	}
}
