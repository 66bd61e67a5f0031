package mcp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// maxBody bounds a client message and a target's JSON answer.
const maxBody = 8 << 20

// supportedVersions are the protocol revisions the gateway negotiates,
// newest first.
var supportedVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Call is one MCP operation as authorization sees it.
type Call struct {
	// Method is the MCP method ("tools/call", "prompts/get",
	// "resources/read").
	Method string
	// Tool is the tool's (or prompt's) name at its target, without the
	// gateway's prefix; for resources/read the resource URI.
	Tool string
	// Arguments are the call's arguments (empty when a list is filtered).
	Arguments map[string]any
	// Target is the name of the target that owns the tool.
	Target string
}

// Options are the gateway's hooks.
type Options struct {
	// Authorize, when set, decides whether the request may make the call;
	// lists leave out what it refuses.
	Authorize func(r *http.Request, c *Call) bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Gateway serves one MCP backend. It is safe for concurrent use.
type Gateway struct {
	name     string
	cfg      config.MCPBackend
	targets  []*target
	sealer   *sealer // nil for Stateless
	opts     Options
	log      *slog.Logger
	failOpen bool
	seq      atomic.Uint64
	tr       *http.Transport

	mu       sync.Mutex
	sse      map[string]*sseConn    // by session nonce and target index
	streams  map[string]chan []byte // the client's GET stream by session nonce
	catalogs map[string]*catalogs   // by session nonce
	closed   bool
}

// New builds the gateway of backend name from its validated config.
func New(name string, cfg *config.MCPBackend, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	g := &Gateway{name: name, cfg: *cfg, opts: opts, log: opts.Logger.With("backend", name), tr: tr,
		failOpen: cfg.FailureMode == config.MCPFailOpen,
		sse:      map[string]*sseConn{}, streams: map[string]chan []byte{}, catalogs: map[string]*catalogs{}}
	for i := range cfg.Targets {
		g.targets = append(g.targets, newTarget(i, &cfg.Targets[i], hc))
	}
	if cfg.SessionRouting != config.MCPStateless {
		key, err := cfg.DecodeSessionKey()
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		if g.sealer, err = newSealer(key, name); err != nil {
			return nil, err
		}
	}
	go g.janitor()
	return g, nil
}

// Close ends the gateway's target connections.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	for k, c := range g.sse {
		c.close()
		delete(g.sse, k)
	}
	g.mu.Unlock()
	g.tr.CloseIdleConnections()
}

// janitor closes SSE connections unused for a while.
func (g *Gateway) janitor() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for range t.C {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return
		}
		for k, c := range g.sse {
			c.mu.Lock()
			idle := time.Since(c.used) > 30*time.Minute
			c.mu.Unlock()
			if idle || !c.alive() {
				c.close()
				delete(g.sse, k)
			}
		}
		for k, c := range g.catalogs {
			if time.Since(c.at) > catalogTTL {
				delete(g.catalogs, k)
			}
		}
		g.mu.Unlock()
	}
}

// Targets returns the target names in order.
func (g *Gateway) Targets() []string {
	out := make([]string, len(g.targets))
	for i, t := range g.targets {
		out[i] = t.name
	}
	return out
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		g.post(w, r)
	case http.MethodGet:
		g.get(w, r)
	case http.MethodDelete:
		g.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func writeMessage(w http.ResponseWriter, m *message) {
	b, err := json.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (g *Gateway) nextID() json.RawMessage {
	return json.RawMessage(`"agw-` + strconv.FormatUint(g.seq.Add(1), 10) + `"`)
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (g *Gateway) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
		return
	}
	trimmed := strings.TrimLeft(string(body), " \t\r\n")
	if strings.HasPrefix(trimmed, "[") {
		w.WriteHeader(http.StatusBadRequest)
		writeMessage(w, errorMessage(nil, codeInvalidRequest, "JSON-RPC batches are not supported"))
		return
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil || m.JSONRPC != "2.0" {
		w.WriteHeader(http.StatusBadRequest)
		writeMessage(w, errorMessage(nil, codeParse, "not a JSON-RPC 2.0 message"))
		return
	}
	if m.Method == "initialize" && m.isRequest() {
		g.initialize(w, r, &m)
		return
	}
	sess, status, err := g.session(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	switch {
	case m.isNotification():
		g.notifyAll(r.Context(), sess, &m)
		w.WriteHeader(http.StatusAccepted)
	case m.isResponse():
		g.answer(r.Context(), sess, &m)
		w.WriteHeader(http.StatusAccepted)
	case m.isRequest():
		g.request(w, r, sess, &m)
	default:
		w.WriteHeader(http.StatusBadRequest)
		writeMessage(w, errorMessage(m.ID, codeInvalidRequest, "invalid JSON-RPC message"))
	}
}

// session returns the client's session (an empty one for Stateless).
func (g *Gateway) session(r *http.Request) (*session, int, error) {
	if g.sealer == nil {
		s := &session{}
		for _, t := range g.targets {
			s.Targets = append(s.Targets, targetSession{Name: t.name})
		}
		return s, 0, nil
	}
	id := r.Header.Get("Mcp-Session-Id")
	if id == "" {
		return nil, http.StatusBadRequest, errors.New("missing Mcp-Session-Id: send initialize first")
	}
	s, err := g.sealer.open(id)
	if err != nil {
		return nil, http.StatusNotFound, err
	}
	if len(s.Targets) != len(g.targets) {
		return nil, http.StatusNotFound, errors.New("session of another target list: initialize again")
	}
	for i, t := range g.targets {
		if s.Targets[i].Name != t.name {
			return nil, http.StatusNotFound, errors.New("session of another target list: initialize again")
		}
	}
	return s, 0, nil
}

func negotiate(v string) string {
	if slices.Contains(supportedVersions, v) {
		return v
	}
	return supportedVersions[0]
}

type initResult struct {
	ProtocolVersion string                     `json:"protocolVersion"`
	Capabilities    map[string]json.RawMessage `json:"capabilities"`
	ServerInfo      json.RawMessage            `json:"serverInfo,omitempty"`
	Instructions    string                     `json:"instructions,omitempty"`
}

func (g *Gateway) initialize(w http.ResponseWriter, r *http.Request, m *message) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(m.Params, &params); err != nil || params == nil {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, "initialize needs params"))
		return
	}
	var clientVersion string
	if json.Unmarshal(params["protocolVersion"], &clientVersion) != nil {
		clientVersion = "" // negotiated to the newest
	}
	version := negotiate(clientVersion)
	params["protocolVersion"] = jsonOf(version)
	sess := &session{Version: version, Nonce: newNonce(), Targets: make([]targetSession, len(g.targets))}
	results := make([]*initResult, len(g.targets))
	errs := make([]error, len(g.targets))
	var wg sync.WaitGroup
	for i, t := range g.targets {
		sess.Targets[i].Name = t.name
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = g.initTarget(r.Context(), sess, i, params)
		}()
	}
	wg.Wait()
	merged := &initResult{ProtocolVersion: version, Capabilities: map[string]json.RawMessage{},
		ServerInfo: json.RawMessage(`{"name":"agentgateway","title":"agentgateway MCP gateway","version":"1"}`)}
	var instructions []string
	up := 0
	for i, res := range results {
		if errs[i] != nil {
			g.log.Warn("mcp target failed to initialize", "target", g.targets[i].name, "error", errs[i])
			if !g.failOpen {
				writeMessage(w, errorMessage(m.ID, codeUnavailable, fmt.Sprintf("target %s is unavailable: %v", g.targets[i].name, errs[i])))
				return
			}
			sess.Targets[i].Down = true
			continue
		}
		up++
		mergeCapabilities(merged.Capabilities, res.Capabilities)
		if res.Instructions != "" {
			instructions = append(instructions, g.targets[i].name+": "+res.Instructions)
		}
	}
	if up == 0 {
		writeMessage(w, errorMessage(m.ID, codeUnavailable, "no target is available"))
		return
	}
	merged.Instructions = strings.Join(instructions, "\n")
	if g.sealer != nil {
		id, err := g.sealer.seal(sess)
		if err != nil {
			writeMessage(w, errorMessage(m.ID, codeInternal, err.Error()))
			return
		}
		w.Header().Set("Mcp-Session-Id", id)
	}
	writeMessage(w, resultMessage(m.ID, merged))
}

// initTarget initializes target i's side of a new session.
func (g *Gateway) initTarget(ctx context.Context, sess *session, i int, params map[string]json.RawMessage) (*initResult, error) {
	t := g.targets[i]
	p := jsonOf(params)
	req := &message{JSONRPC: "2.0", ID: g.nextID(), Method: "initialize", Params: p}
	var ans *message
	if t.sse {
		c, err := g.dialSSE(sess, i)
		if err != nil {
			return nil, err
		}
		if ans, err = c.request(ctx, req); err != nil {
			return nil, err
		}
	} else {
		resp, err := t.post(ctx, nil, req)
		if err != nil {
			return nil, err
		}
		sess.Targets[i].ID = resp.Header.Get("Mcp-Session-Id")
		if ans, err = readAnswer(resp, req.ID, nil); err != nil {
			return nil, err
		}
	}
	if ans.Error != nil {
		return nil, ans.Error
	}
	var res initResult
	if err := json.Unmarshal(ans.Result, &res); err != nil {
		return nil, fmt.Errorf("initialize result: %w", err)
	}
	sess.Targets[i].Version = res.ProtocolVersion
	return &res, nil
}

// mergeCapabilities ORs the target's capabilities into dst: an object
// capability is present if any target has it, with the union of its
// fields (true wins for flags such as listChanged).
func mergeCapabilities(dst, src map[string]json.RawMessage) {
	for k, v := range src {
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil || obj == nil {
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
			continue
		}
		var have map[string]json.RawMessage
		if json.Unmarshal(dst[k], &have) != nil || have == nil {
			have = map[string]json.RawMessage{}
		}
		for fk, fv := range obj {
			if old, ok := have[fk]; !ok || string(old) == "false" {
				have[fk] = fv
			}
		}
		dst[k] = jsonOf(have)
	}
}

// dialSSE opens (or reuses) the SSE connection of target i for the
// session. A connection opened for a session this replica did not start
// initializes the target again.
func (g *Gateway) dialSSE(sess *session, i int) (*sseConn, error) {
	key := sess.Nonce + "/" + strconv.Itoa(i)
	g.mu.Lock()
	c := g.sse[key]
	if c != nil && !c.alive() {
		delete(g.sse, key)
		c = nil
	}
	g.mu.Unlock()
	if c != nil {
		return c, nil
	}
	nonce := sess.Nonce
	c, err := dialSSE(g.targets[i], func(m *message) { g.unsolicited(nonce, i, m) })
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if old := g.sse[key]; old != nil && old.alive() {
		g.mu.Unlock()
		c.close()
		return old, nil
	}
	g.sse[key] = c
	g.mu.Unlock()
	return c, nil
}

// sseFor returns an initialized SSE connection of target i for a running
// session, initializing the target on this replica when needed.
func (g *Gateway) sseFor(ctx context.Context, sess *session, i int) (*sseConn, error) {
	key := sess.Nonce + "/" + strconv.Itoa(i)
	g.mu.Lock()
	c := g.sse[key]
	g.mu.Unlock()
	if c != nil && c.alive() {
		return c, nil
	}
	params := map[string]json.RawMessage{}
	params["protocolVersion"] = jsonOf(sess.Targets[i].Version)
	params["capabilities"] = json.RawMessage(`{}`)
	params["clientInfo"] = json.RawMessage(`{"name":"agentgateway","version":"1"}`)
	if _, err := g.initTarget(ctx, sess, i, params); err != nil {
		return nil, err
	}
	g.mu.Lock()
	c = g.sse[key]
	g.mu.Unlock()
	if c == nil {
		return nil, errors.New("SSE connection closed")
	}
	if err := c.send(ctx, &message{JSONRPC: "2.0", Method: "notifications/initialized"}); err != nil {
		return nil, err
	}
	return c, nil
}

// unsolicited relays a message an SSE target sent outside any answer to
// the client's GET stream.
func (g *Gateway) unsolicited(nonce string, i int, m *message) {
	g.relayTo(nonce, i, m, func(b []byte) bool {
		g.mu.Lock()
		ch := g.streams[nonce]
		g.mu.Unlock()
		if ch == nil {
			return false
		}
		select {
		case ch <- b:
			return true
		default:
			return false
		}
	})
}

// relayTo rewrites a message from target i for the client (server request
// ids name their target) and hands it to out. List changes drop the
// session's catalogue.
func (g *Gateway) relayTo(nonce string, i int, m *message, out func([]byte) bool) {
	if m.isRequest() {
		m.ID = wrapID(i, m.ID)
	}
	if strings.HasSuffix(m.Method, "/list_changed") {
		g.mu.Lock()
		delete(g.catalogs, nonce)
		g.mu.Unlock()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	if !out(b) {
		g.log.Debug("mcp message dropped: no client stream", "target", g.targets[i].name, "method", m.Method)
	}
}

// up reports whether target i takes part in the session.
func up(sess *session, i int) bool { return !sess.Targets[i].Down }

// notifyAll sends a client notification to every target of the session.
func (g *Gateway) notifyAll(ctx context.Context, sess *session, m *message) {
	var wg sync.WaitGroup
	for i := range g.targets {
		if !up(sess, i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.send(ctx, sess, i, m); err != nil {
				g.log.Debug("mcp notification not delivered", "target", g.targets[i].name, "method", m.Method, "error", err)
			}
		}()
	}
	wg.Wait()
}

// send delivers a notification or response to target i.
func (g *Gateway) send(ctx context.Context, sess *session, i int, m *message) error {
	t := g.targets[i]
	if t.sse {
		c, err := g.sseFor(ctx, sess, i)
		if err != nil {
			return err
		}
		return c.send(ctx, m)
	}
	resp, err := t.post(ctx, &sess.Targets[i], m)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	return err
}

// answer forwards the client's answer to a server request to its target.
func (g *Gateway) answer(ctx context.Context, sess *session, m *message) {
	i, orig, ok := unwrapID(m.ID)
	if !ok || i < 0 || i >= len(g.targets) || !up(sess, i) {
		g.log.Debug("mcp answer to an unknown request dropped", "id", string(m.ID))
		return
	}
	m.ID = orig
	if err := g.send(ctx, sess, i, m); err != nil {
		g.log.Debug("mcp answer not delivered", "target", g.targets[i].name, "error", err)
	}
}

// call sends a request to target i and returns its answer; messages the
// target sends meanwhile go to relay.
func (g *Gateway) call(ctx context.Context, sess *session, i int, m *message, relay func(*message)) (*message, error) {
	t := g.targets[i]
	if t.sse {
		c, err := g.sseFor(ctx, sess, i)
		if err != nil {
			return nil, err
		}
		return c.request(ctx, m)
	}
	resp, err := t.post(ctx, &sess.Targets[i], m)
	if err != nil {
		return nil, err
	}
	return readAnswer(resp, m.ID, relay)
}

func (g *Gateway) request(w http.ResponseWriter, r *http.Request, sess *session, m *message) {
	switch m.Method {
	case "ping":
		writeMessage(w, resultMessage(m.ID, struct{}{}))
	case "tools/list":
		g.list(w, r, sess, m, kindTools)
	case "prompts/list":
		g.list(w, r, sess, m, kindPrompts)
	case "resources/list":
		g.list(w, r, sess, m, kindResources)
	case "resources/templates/list":
		g.list(w, r, sess, m, kindTemplates)
	case "tools/call":
		g.callNamed(w, r, sess, m, kindTools)
	case "prompts/get":
		g.callNamed(w, r, sess, m, kindPrompts)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		g.callResource(w, r, sess, m)
	case "completion/complete":
		g.complete(w, r, sess, m)
	case "logging/setLevel":
		g.broadcastRequest(w, r, sess, m)
	default:
		writeMessage(w, errorMessage(m.ID, codeMethodNotFound, "method not found: "+m.Method))
	}
}

// broadcastRequest sends the request to every target and answers {}.
func (g *Gateway) broadcastRequest(w http.ResponseWriter, r *http.Request, sess *session, m *message) {
	var wg sync.WaitGroup
	errs := make([]error, len(g.targets))
	for i := range g.targets {
		if !up(sess, i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := *m
			req.ID = g.nextID()
			ans, err := g.call(r.Context(), sess, i, &req, nil)
			if err == nil && ans.Error != nil {
				err = ans.Error
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !g.failOpen {
			writeMessage(w, errorMessage(m.ID, codeUnavailable, fmt.Sprintf("target %s: %v", g.targets[i].name, err)))
			return
		}
	}
	writeMessage(w, resultMessage(m.ID, struct{}{}))
}

// forward sends the client's request to target i and passes the answer
// through as it arrives: a JSON answer as is, an event stream event by
// event (server requests get ids naming the target).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, sess *session, i int, m *message) {
	t := g.targets[i]
	if t.sse {
		ans, err := g.call(r.Context(), sess, i, m, nil)
		if err != nil {
			writeMessage(w, errorMessage(m.ID, codeUnavailable, fmt.Sprintf("target %s is unavailable: %v", t.name, err)))
			return
		}
		writeMessage(w, ans)
		return
	}
	resp, err := t.post(r.Context(), &sess.Targets[i], m)
	if err != nil {
		writeMessage(w, errorMessage(m.ID, codeUnavailable, fmt.Sprintf("target %s is unavailable: %v", t.name, err)))
		return
	}
	defer resp.Body.Close()
	if !isEventStream(resp.Header) {
		w.Header().Set("Content-Type", "application/json")
		if _, err := io.Copy(w, io.LimitReader(resp.Body, maxBody)); err != nil {
			g.log.Debug("mcp answer cut off", "target", t.name, "error", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	sr := newSSEReader(resp.Body)
	for {
		ev, err := sr.next()
		if err != nil {
			return
		}
		var msg message
		if json.Unmarshal(ev.Data, &msg) != nil {
			continue
		}
		done := msg.isResponse() && string(msg.ID) == string(m.ID)
		g.relayTo(sess.Nonce, i, &msg, func(b []byte) bool {
			return writeSSE(w, b) == nil && rc.Flush() == nil
		})
		if done {
			return
		}
	}
}

// get opens the client's stream of server-initiated messages, merging the
// targets' standalone streams.
func (g *Gateway) get(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		http.Error(w, "GET needs Accept: text/event-stream", http.StatusNotAcceptable)
		return
	}
	if g.sealer == nil {
		w.Header().Set("Allow", "POST")
		http.Error(w, "stateless MCP gateway: no server-initiated stream", http.StatusMethodNotAllowed)
		return
	}
	sess, status, err := g.session(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := make(chan []byte, 64)
	g.mu.Lock()
	g.streams[sess.Nonce] = out
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.streams[sess.Nonce] == out {
			delete(g.streams, sess.Nonce)
		}
		g.mu.Unlock()
	}()
	sources := 0
	for i, t := range g.targets {
		if !up(sess, i) {
			continue
		}
		if t.sse {
			if _, err := g.sseFor(ctx, sess, i); err == nil {
				sources++
			}
			continue
		}
		req, err := t.newRequest(ctx, http.MethodGet, &sess.Targets[i], nil)
		if err != nil {
			continue
		}
		resp, err := t.hc.Do(req)
		if err != nil {
			continue
		}
		if resp.StatusCode != http.StatusOK || !isEventStream(resp.Header) {
			resp.Body.Close()
			continue
		}
		sources++
		go func() {
			defer resp.Body.Close()
			sr := newSSEReader(resp.Body)
			for {
				ev, err := sr.next()
				if err != nil {
					return
				}
				var msg message
				if json.Unmarshal(ev.Data, &msg) != nil {
					continue
				}
				g.relayTo(sess.Nonce, i, &msg, func(b []byte) bool {
					select {
					case out <- b:
						return true
					case <-ctx.Done():
						return false
					}
				})
			}
		}()
	}
	if sources == 0 {
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "no target offers a server-initiated stream", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-out:
			if writeSSE(w, b) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// delete ends the session at every target.
func (g *Gateway) delete(w http.ResponseWriter, r *http.Request) {
	sess, status, err := g.session(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	if g.sealer == nil {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	for i, t := range g.targets {
		if !up(sess, i) {
			continue
		}
		if t.sse {
			key := sess.Nonce + "/" + strconv.Itoa(i)
			g.mu.Lock()
			if c := g.sse[key]; c != nil {
				c.close()
				delete(g.sse, key)
			}
			g.mu.Unlock()
			continue
		}
		if sess.Targets[i].ID == "" {
			continue
		}
		req, err := t.newRequest(r.Context(), http.MethodDelete, &sess.Targets[i], nil)
		if err != nil {
			continue
		}
		if resp, err := t.hc.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	g.mu.Lock()
	delete(g.catalogs, sess.Nonce)
	g.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
