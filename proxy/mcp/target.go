package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// target is one MCP server behind the gateway.
type target struct {
	index int
	name  string
	url   string // the endpoint: Streamable HTTP, or the SSE stream
	sse   bool
	hc    *http.Client
}

func newTarget(i int, t *config.MCPTarget, hc *http.Client) *target {
	return &target{index: i, name: t.Name, url: "http://" + t.Address + t.MCPPath(), sse: t.Transport == config.MCPSSE, hc: hc}
}

// errSessionGone is a target's 404 for a session it no longer has.
var errSessionGone = errors.New("the target no longer has this session")

// newRequest builds a request to the streamable endpoint.
func (t *target) newRequest(ctx context.Context, method string, ts *targetSession, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	if ts != nil {
		if ts.ID != "" {
			req.Header.Set("Mcp-Session-Id", ts.ID)
		}
		if ts.Version >= "2025-06-18" {
			req.Header.Set("Mcp-Protocol-Version", ts.Version)
		}
	}
	return req, nil
}

// post sends one message to a streamable target and returns its answer
// with a 2xx status; other statuses are errors.
func (t *target) post(ctx context.Context, ts *targetSession, m *message) (*http.Response, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	req, err := t.newRequest(ctx, http.MethodPost, ts, body)
	if err != nil {
		return nil, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		msg, rerr := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if rerr != nil {
			msg = []byte(rerr.Error())
		}
		if resp.StatusCode == http.StatusNotFound && ts != nil && ts.ID != "" {
			return nil, errSessionGone
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// readAnswer reads the response to request id from a streamable answer,
// JSON or an event stream; other messages on the stream go to relay.
func readAnswer(resp *http.Response, id json.RawMessage, relay func(*message)) (*message, error) {
	defer resp.Body.Close()
	if isEventStream(resp.Header) {
		sr := newSSEReader(resp.Body)
		for {
			ev, err := sr.next()
			if err != nil {
				return nil, fmt.Errorf("event stream ended before the answer: %w", err)
			}
			var m message
			if json.Unmarshal(ev.Data, &m) != nil {
				continue
			}
			if m.isResponse() && bytes.Equal(m.ID, id) {
				return &m, nil
			}
			if relay != nil {
				relay(&m)
			}
		}
	}
	var m message
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return &m, nil
}

func isEventStream(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
}

// sseConn is the gateway's HTTP+SSE (2024-11-05) connection to a target for
// one client session: a long-lived event stream that carries the answers
// and an endpoint the messages are posted to.
type sseConn struct {
	t        *target
	endpoint string
	cancel   context.CancelFunc
	// unsolicited receives the target's requests and notifications.
	unsolicited func(*message)

	mu      sync.Mutex
	pending map[string]chan *message
	err     error // set once the stream ended
	done    chan struct{}
	used    time.Time
}

// sseOpenTimeout bounds the wait for an SSE target's response headers and
// endpoint event: a target that accepts and then says nothing must not hold
// a connection and a goroutine forever.
var sseOpenTimeout = 10 * time.Second

// dialSSE opens the event stream and waits for the endpoint event (at most
// sseOpenTimeout); the stream then lives until its connection is closed.
func dialSSE(t *target, unsolicited func(*message)) (*sseConn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	opening := time.AfterFunc(sseOpenTimeout, cancel)
	c, err := openSSE(ctx, cancel, t, unsolicited)
	if !opening.Stop() && err == nil {
		// The timer fired as the endpoint arrived: the stream is already cancelled.
		return nil, fmt.Errorf("SSE stream: no endpoint event within %v", sseOpenTimeout)
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("SSE stream: no endpoint event within %v: %w", sseOpenTimeout, err)
	}
	return c, err
}

func openSSE(ctx context.Context, cancel context.CancelFunc, t *target, unsolicited func(*message)) (*sseConn, error) {
	req, err := t.newRequest(ctx, http.MethodGet, nil, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !isEventStream(resp.Header) {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("SSE stream: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sr := newSSEReader(resp.Body)
	first, err := sr.next()
	if err != nil || first.Event != "endpoint" {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("SSE stream: no endpoint event (%v)", err)
	}
	base, err := url.Parse(t.url)
	if err != nil {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	ep, err := base.Parse(strings.TrimSpace(string(first.Data)))
	if err != nil || ep.Host != base.Host {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("SSE stream: bad endpoint %q", first.Data)
	}
	c := &sseConn{t: t, endpoint: ep.String(), cancel: cancel, unsolicited: unsolicited,
		pending: map[string]chan *message{}, done: make(chan struct{}), used: time.Now()}
	go c.read(resp.Body, sr)
	return c, nil
}

func (c *sseConn) read(body io.ReadCloser, sr *sseReader) {
	defer body.Close()
	for {
		ev, err := sr.next()
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("SSE stream ended: %w", err)
			c.mu.Unlock()
			close(c.done)
			return
		}
		var m message
		if json.Unmarshal(ev.Data, &m) != nil {
			continue
		}
		if m.isResponse() {
			c.mu.Lock()
			ch := c.pending[string(m.ID)]
			delete(c.pending, string(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- &m
			}
			continue
		}
		if c.unsolicited != nil {
			c.unsolicited(&m)
		}
	}
}

// send posts a message to the endpoint.
func (c *sseConn) send(ctx context.Context, m *message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.t.hc.Do(req)
	if err != nil {
		return err
	}
	msg, rerr := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if rerr != nil {
		msg = []byte(rerr.Error())
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	c.mu.Lock()
	c.used = time.Now()
	c.mu.Unlock()
	return nil
}

// request sends a request and waits for its answer on the stream.
func (c *sseConn) request(ctx context.Context, m *message) (*message, error) {
	ch := make(chan *message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.pending[string(m.ID)] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, string(m.ID))
		c.mu.Unlock()
	}()
	if err := c.send(ctx, m); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *sseConn) close() { c.cancel() }

func (c *sseConn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}
