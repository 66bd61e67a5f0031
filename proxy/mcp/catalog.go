package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// catalogTTL is how long a session's merged lists are reused to route
// calls (a target's list_changed notification drops them sooner).
const catalogTTL = 30 * time.Second

type kind int

const (
	kindTools kind = iota
	kindPrompts
	kindResources
	kindTemplates
)

var kinds = [...]struct {
	method, field, key string
}{
	kindTools:     {"tools/list", "tools", "name"},
	kindPrompts:   {"prompts/list", "prompts", "name"},
	kindResources: {"resources/list", "resources", "uri"},
	kindTemplates: {"resources/templates/list", "resourceTemplates", "uriTemplate"},
}

// entry is one merged list entry.
type entry struct {
	// Name is what the client sees (prefixed as configured).
	Name string
	// Orig is the name (or URI) at the target.
	Orig   string
	Target int
	// Raw is the entry as the client sees it.
	Raw json.RawMessage
}

// catalog is one merged list.
type catalog struct {
	entries []entry
	byName  map[string]int
}

// catalogs are a session's merged lists, by kind.
type catalogs struct {
	at   time.Time
	list [len(kinds)]*catalog
}

// ToolInfo is one merged tool, for status and views.
type ToolInfo struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Orig   string `json:"orig,omitempty"`
}

// fetchAll lists kind k at every target of the session, following the
// targets' cursors.
func (g *Gateway) fetchAll(ctx context.Context, sess *session, k kind) ([][]json.RawMessage, error) {
	out := make([][]json.RawMessage, len(g.targets))
	errs := make([]error, len(g.targets))
	var wg sync.WaitGroup
	for i := range g.targets {
		if !up(sess, i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = g.fetch(ctx, sess, i, k)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !g.failOpen {
			return nil, fmt.Errorf("target %s is unavailable: %w", g.targets[i].name, err)
		}
		g.log.Warn("mcp target left out of a list", "target", g.targets[i].name, "method", kinds[k].method, "error", err)
		out[i] = nil
	}
	return out, nil
}

func (g *Gateway) fetch(ctx context.Context, sess *session, i int, k kind) ([]json.RawMessage, error) {
	var all []json.RawMessage
	cursor := ""
	for page := 0; page < 1000; page++ {
		params := map[string]string{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		p := jsonOf(params)
		ans, err := g.call(ctx, sess, i, &message{JSONRPC: "2.0", ID: g.nextID(), Method: kinds[k].method, Params: p}, nil)
		if err != nil {
			return nil, err
		}
		if ans.Error != nil {
			if ans.Error.Code == codeMethodNotFound {
				return nil, nil // the target does not offer this kind
			}
			return nil, ans.Error
		}
		var res map[string]json.RawMessage
		if err := json.Unmarshal(ans.Result, &res); err != nil {
			return nil, fmt.Errorf("%s result: %w", kinds[k].method, err)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(res[kinds[k].field], &items); err != nil && res[kinds[k].field] != nil {
			return nil, fmt.Errorf("%s result: %w", kinds[k].method, err)
		}
		all = append(all, items...)
		cursor = ""
		if json.Unmarshal(res["nextCursor"], &cursor) != nil {
			cursor = "" // absent or not a string: the last page
		}
		if cursor == "" {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 1000 pages", kinds[k].method)
}

// merge builds the merged list of kind k from each target's entries.
// Tools and prompts are prefixed as configured; resources keep their URIs
// (the first target's wins).
func (g *Gateway) merge(k kind, per [][]json.RawMessage) *catalog {
	key := kinds[k].key
	type item struct {
		target int
		orig   string
		obj    map[string]json.RawMessage
	}
	var items []item
	count := map[string]int{}
	for ti, list := range per {
		for _, raw := range list {
			var obj map[string]json.RawMessage
			var name string
			if json.Unmarshal(raw, &obj) != nil || json.Unmarshal(obj[key], &name) != nil || name == "" {
				continue
			}
			items = append(items, item{ti, name, obj})
			count[name]++
		}
	}
	named := k == kindTools || k == kindPrompts
	c := &catalog{byName: map[string]int{}}
	for _, it := range items {
		name := it.orig
		if named {
			switch g.cfg.ToolPrefix {
			case config.MCPPrefixAlways:
				name = g.targets[it.target].name + "_" + it.orig
			case config.MCPPrefixNever:
			default:
				if count[it.orig] > 1 {
					name = g.targets[it.target].name + "_" + it.orig
				}
			}
		}
		if _, dup := c.byName[name]; dup {
			continue
		}
		if name != it.orig {
			it.obj[key] = jsonOf(name)
		}
		raw := jsonOf(it.obj)
		c.byName[name] = len(c.entries)
		c.entries = append(c.entries, entry{Name: name, Orig: it.orig, Target: it.target, Raw: raw})
	}
	return c
}

// catalog returns the session's merged list of kind k, from the cache
// unless fresh is set.
func (g *Gateway) catalog(ctx context.Context, sess *session, k kind, fresh bool) (*catalog, error) {
	if !fresh {
		g.mu.Lock()
		cs := g.catalogs[sess.Nonce]
		var c *catalog
		if cs != nil && time.Since(cs.at) < catalogTTL {
			c = cs.list[k]
		}
		g.mu.Unlock()
		if c != nil {
			return c, nil
		}
	}
	per, err := g.fetchAll(ctx, sess, k)
	if err != nil {
		return nil, err
	}
	c := g.merge(k, per)
	g.mu.Lock()
	cs := g.catalogs[sess.Nonce]
	if cs == nil || time.Since(cs.at) >= catalogTTL {
		cs = &catalogs{at: time.Now()}
		g.catalogs[sess.Nonce] = cs
	}
	cs.list[k] = c
	g.mu.Unlock()
	return c, nil
}

// Tools lists the merged tools with a session of its own (for status and
// views): it initializes every target, lists, and ends the sessions.
func (g *Gateway) Tools(ctx context.Context) ([]ToolInfo, error) {
	sess := &session{Nonce: newNonce(), Version: supportedVersions[0], Targets: make([]targetSession, len(g.targets))}
	params := map[string]json.RawMessage{
		"protocolVersion": json.RawMessage(`"` + supportedVersions[0] + `"`),
		"capabilities":    json.RawMessage(`{}`),
		"clientInfo":      json.RawMessage(`{"name":"agentgateway-status","version":"1"}`),
	}
	for i, t := range g.targets {
		sess.Targets[i].Name = t.name
		if _, err := g.initTarget(ctx, sess, i, params); err != nil {
			sess.Targets[i].Down = true
			if !g.failOpen {
				return nil, fmt.Errorf("target %s: %w", t.name, err)
			}
			continue
		}
		if err := g.send(ctx, sess, i, &message{JSONRPC: "2.0", Method: "notifications/initialized"}); err != nil {
			g.log.Debug("mcp notification not delivered", "target", t.name, "error", err)
		}
	}
	per, err := g.fetchAll(ctx, sess, kindTools)
	g.endSession(ctx, sess)
	if err != nil {
		return nil, err
	}
	c := g.merge(kindTools, per)
	out := make([]ToolInfo, len(c.entries))
	for i, e := range c.entries {
		out[i] = ToolInfo{Name: e.Name, Target: g.targets[e.Target].name}
		if e.Orig != e.Name {
			out[i].Orig = e.Orig
		}
	}
	return out, nil
}

// endSession deletes the targets' sessions of a gateway-made session.
func (g *Gateway) endSession(ctx context.Context, sess *session) {
	for i, t := range g.targets {
		if sess.Targets[i].Down {
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
		if req, err := t.newRequest(ctx, http.MethodDelete, &sess.Targets[i], nil); err == nil {
			if resp, err := t.hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	g.mu.Lock()
	delete(g.catalogs, sess.Nonce)
	g.mu.Unlock()
}

func (g *Gateway) allowed(r *http.Request, c *Call) bool {
	return g.opts.Authorize == nil || g.opts.Authorize(r, c)
}

func callMethod(k kind) string {
	if k == kindPrompts {
		return "prompts/get"
	}
	if k == kindTools {
		return "tools/call"
	}
	return "resources/read"
}

// list answers a list request with a page of the merged list, leaving out
// the entries the caller may not use.
func (g *Gateway) list(w http.ResponseWriter, r *http.Request, sess *session, m *message, k kind) {
	var params struct {
		Cursor string `json:"cursor"`
	}
	if len(m.Params) > 0 && json.Unmarshal(m.Params, &params) != nil {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, "invalid params"))
		return
	}
	c, err := g.catalog(r.Context(), sess, k, params.Cursor == "")
	if err != nil {
		writeMessage(w, errorMessage(m.ID, codeUnavailable, err.Error()))
		return
	}
	var visible []json.RawMessage
	for _, e := range c.entries {
		if (k == kindTools || k == kindPrompts) && !g.allowed(r, &Call{Method: callMethod(k), Tool: e.Orig, Target: g.targets[e.Target].name, Arguments: map[string]any{}}) {
			continue
		}
		visible = append(visible, e.Raw)
	}
	start := 0
	if params.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(params.Cursor)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(visible) {
			writeMessage(w, errorMessage(m.ID, codeInvalidParams, "invalid cursor"))
			return
		}
		start = n
	}
	end := len(visible)
	if ps := g.cfg.PageSize; ps > 0 && start+ps < end {
		end = start + ps
	}
	res := map[string]any{kinds[k].field: append([]json.RawMessage{}, visible[start:end]...)}
	if end < len(visible) {
		res["nextCursor"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	writeMessage(w, resultMessage(m.ID, res))
}

// callNamed routes tools/call and prompts/get to the target owning the
// name.
func (g *Gateway) callNamed(w http.ResponseWriter, r *http.Request, sess *session, m *message, k kind) {
	var params map[string]json.RawMessage
	var name string
	if json.Unmarshal(m.Params, &params) != nil || json.Unmarshal(params["name"], &name) != nil || name == "" {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, m.Method+" needs params.name"))
		return
	}
	e, err := g.lookup(r.Context(), sess, k, name)
	if err != nil {
		writeMessage(w, errorMessage(m.ID, codeUnavailable, err.Error()))
		return
	}
	if e == nil {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, fmt.Sprintf("unknown %s %q", kinds[k].field[:len(kinds[k].field)-1], name)))
		return
	}
	var args map[string]any
	if json.Unmarshal(params["arguments"], &args) != nil || args == nil {
		args = map[string]any{}
	}
	call := &Call{Method: m.Method, Tool: e.Orig, Arguments: args, Target: g.targets[e.Target].name}
	if !g.allowed(r, call) {
		writeMessage(w, errorMessage(m.ID, codeForbidden, fmt.Sprintf("%s %q is not allowed", m.Method, name)))
		return
	}
	params["name"] = jsonOf(e.Orig)
	fwd := *m
	fwd.Params = jsonOf(params)
	g.forward(w, r, sess, e.Target, &fwd)
}

// lookup finds a name in the session's merged list, listing again once if
// the cached list does not have it.
func (g *Gateway) lookup(ctx context.Context, sess *session, k kind, name string) (*entry, error) {
	for _, fresh := range []bool{false, true} {
		c, err := g.catalog(ctx, sess, k, fresh)
		if err != nil {
			return nil, err
		}
		if i, ok := c.byName[name]; ok {
			return &c.entries[i], nil
		}
	}
	return nil, nil
}

// callResource routes resources/read, subscribe and unsubscribe: to the
// target listing the URI, or else to each target in turn until one
// answers without an error (resources from templates).
func (g *Gateway) callResource(w http.ResponseWriter, r *http.Request, sess *session, m *message) {
	var params struct {
		URI string `json:"uri"`
	}
	if json.Unmarshal(m.Params, &params) != nil || params.URI == "" {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, m.Method+" needs params.uri"))
		return
	}
	g.routeURI(w, r, sess, m, params.URI)
}

func (g *Gateway) routeURI(w http.ResponseWriter, r *http.Request, sess *session, m *message, uri string) {
	c, err := g.catalog(r.Context(), sess, kindResources, false)
	if err != nil {
		writeMessage(w, errorMessage(m.ID, codeUnavailable, err.Error()))
		return
	}
	if i, ok := c.byName[uri]; ok {
		e := c.entries[i]
		call := &Call{Method: m.Method, Tool: uri, Target: g.targets[e.Target].name, Arguments: map[string]any{}}
		if !g.allowed(r, call) {
			writeMessage(w, errorMessage(m.ID, codeForbidden, fmt.Sprintf("%s %q is not allowed", m.Method, uri)))
			return
		}
		g.forward(w, r, sess, e.Target, m)
		return
	}
	var last *message
	for i := range g.targets {
		if !up(sess, i) {
			continue
		}
		call := &Call{Method: m.Method, Tool: uri, Target: g.targets[i].name, Arguments: map[string]any{}}
		if !g.allowed(r, call) {
			continue
		}
		ans, err := g.call(r.Context(), sess, i, m, nil)
		if err != nil {
			continue
		}
		if ans.Error == nil {
			writeMessage(w, ans)
			return
		}
		last = ans
	}
	if last == nil {
		last = errorMessage(m.ID, codeInvalidParams, fmt.Sprintf("unknown resource %q", uri))
	}
	writeMessage(w, last)
}

// complete routes completion/complete by its reference.
func (g *Gateway) complete(w http.ResponseWriter, r *http.Request, sess *session, m *message) {
	var params map[string]json.RawMessage
	var ref struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if json.Unmarshal(m.Params, &params) != nil || json.Unmarshal(params["ref"], &ref) != nil {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, "completion/complete needs params.ref"))
		return
	}
	if ref.Type == "ref/resource" {
		g.routeURI(w, r, sess, m, ref.URI)
		return
	}
	e, err := g.lookup(r.Context(), sess, kindPrompts, ref.Name)
	if err != nil || e == nil {
		writeMessage(w, errorMessage(m.ID, codeInvalidParams, fmt.Sprintf("unknown prompt %q", ref.Name)))
		return
	}
	// Completing a prompt's arguments is using the prompt: the caller needs the right to
	// get it, as for seeing it in prompts/list.
	if !g.allowed(r, &Call{Method: callMethod(kindPrompts), Tool: e.Orig, Arguments: map[string]any{}, Target: g.targets[e.Target].name}) {
		writeMessage(w, errorMessage(m.ID, codeForbidden, fmt.Sprintf("completion/complete of prompt %q is not allowed", ref.Name)))
		return
	}
	ref.Name = e.Orig
	params["ref"] = jsonOf(map[string]string{"type": ref.Type, "name": e.Orig})
	fwd := *m
	fwd.Params = jsonOf(params)
	g.forward(w, r, sess, e.Target, &fwd)
}
