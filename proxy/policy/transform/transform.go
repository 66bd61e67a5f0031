// Package transform is the transformation policy (config.Transformation):
// CEL expressions set, add and remove request headers and may replace the
// request body before the request goes to the backend, and do the same to
// the backend's response.
package transform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/agentgateway/agentgateway-go/proxy/cel"
	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/policy"
)

// transformBodyLimit bounds bodies buffered for CEL body transformations.
const transformBodyLimit = 1 << 20

var errBodyTooLarge = errors.New("body too large to transform")

// transformRules is a compiled TransformationRules.
type transformRules struct {
	when     *cel.Program
	set, add []headerExpr
	remove   []string
	body     *cel.Program
}

type headerExpr struct {
	name  string
	value *cel.Program
}

func compileTransform(r *config.TransformationRules, response bool) (*transformRules, error) {
	if r == nil {
		return nil, nil
	}
	phase := cel.PhaseRequestHeaders
	if response {
		phase = cel.PhaseResponse
	} else if r.Body != "" {
		phase = cel.PhaseRequestBody
	}
	t := &transformRules{}
	var err error
	if r.When != "" {
		if t.when, err = cel.Compile(phase, cel.KindCondition, r.When); err != nil {
			return nil, fmt.Errorf("when: %w", err)
		}
	}
	for _, h := range r.Set {
		p, err := cel.Compile(phase, cel.KindHeaderValue, h.Value)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", h.Name, err)
		}
		t.set = append(t.set, headerExpr{http.CanonicalHeaderKey(h.Name), p})
	}
	for _, h := range r.Add {
		p, err := cel.Compile(phase, cel.KindHeaderValue, h.Value)
		if err != nil {
			return nil, fmt.Errorf("add %s: %w", h.Name, err)
		}
		t.add = append(t.add, headerExpr{http.CanonicalHeaderKey(h.Name), p})
	}
	for _, h := range r.Remove {
		t.remove = append(t.remove, http.CanonicalHeaderKey(h))
	}
	if r.Body != "" {
		if t.body, err = cel.Compile(phase, cel.KindBody, r.Body); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	return t, nil
}

// apply evaluates the rules against act and changes h; it returns the new
// body, or nil to keep the body. A header expression that fails to
// evaluate leaves that header alone.
func (t *transformRules) apply(r *http.Request, act *cel.Activation, h http.Header) ([]byte, error) {
	ctx := r.Context()
	if t.when != nil {
		if ok, err := t.when.EvalBool(ctx, act); err != nil || !ok {
			return nil, nil
		}
	}
	// Evaluate everything before changing anything, so expressions see
	// the original headers.
	type change struct {
		name, value string
		add         bool
	}
	var changes []change
	for _, x := range t.set {
		if v, err := x.value.EvalString(ctx, act); err == nil {
			changes = append(changes, change{x.name, v, false})
		}
	}
	for _, x := range t.add {
		if v, err := x.value.EvalString(ctx, act); err == nil {
			changes = append(changes, change{x.name, v, true})
		}
	}
	var body []byte
	if t.body != nil {
		b, err := t.body.EvalBytes(ctx, act)
		if err != nil {
			return nil, fmt.Errorf("body transformation: %w", err)
		}
		body = b
	}
	for _, c := range changes {
		if c.add {
			h[c.name] = append(h[c.name], c.value)
		} else {
			h[c.name] = []string{c.value}
		}
	}
	for _, n := range t.remove {
		delete(h, n)
	}
	return body, nil
}

// Transformation is a compiled config.Transformation: request rules, run
// before the request goes to the backend, and response rules, run on the
// backend's response.
type Transformation struct {
	request, response *transformRules
}

// New compiles t; it returns nil when t has no rules.
func New(t *config.Transformation) (*Transformation, error) {
	out := &Transformation{}
	var err error
	if out.request, err = compileTransform(t.Request, false); err != nil {
		return nil, fmt.Errorf("request transformation: %w", err)
	}
	if out.response, err = compileTransform(t.Response, true); err != nil {
		return nil, fmt.Errorf("response transformation: %w", err)
	}
	if out.request == nil && out.response == nil {
		return nil, nil
	}
	return out, nil
}

// Phase is transform: the last before the backend.
func (*Transformation) Phase() policy.Phase { return policy.PhaseTransform }

// Request applies request rules, buffering the body when a body rule needs
// it. It reports false after answering the client.
func (tr *Transformation) Request(w http.ResponseWriter, r *http.Request, act *cel.Activation) bool {
	t := tr.request
	if t == nil {
		return true
	}
	if t.body != nil && r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, transformBodyLimit+1))
		if err != nil {
			policy.Error(w, r, http.StatusBadRequest, "reading request body")
			return false
		}
		if len(b) > transformBodyLimit {
			policy.Error(w, r, http.StatusRequestEntityTooLarge, errBodyTooLarge.Error())
			return false
		}
		act.Request.Body = b
	}
	body, err := t.apply(r, act, r.Header)
	if err != nil {
		policy.Error(w, r, http.StatusInternalServerError, err.Error())
		return false
	}
	switch {
	case body != nil:
		setBody(r, body)
	case act.Request.Body != nil:
		setBody(r, act.Request.Body) // buffered but unchanged
	}
	return true
}

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r.TransferEncoding = nil
}

// Response applies response rules to a backend response of a request with
// CEL variables act.
func (tr *Transformation) Response(resp *http.Response, act *cel.Activation) error {
	if tr.response == nil || act == nil {
		return nil
	}
	return tr.response.applyResponse(resp, resp.Request, act)
}

// applyResponse applies response rules to a backend response.
func (t *transformRules) applyResponse(resp *http.Response, in *http.Request, act *cel.Activation) error {
	ra := *act
	ra.Response = &cel.Response{Code: resp.StatusCode, Headers: resp.Header}
	if t.body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, transformBodyLimit+1))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(b) > transformBodyLimit {
			return errBodyTooLarge
		}
		ra.Response.Body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	body, err := t.apply(in, &ra, resp.Header)
	if err != nil {
		return err
	}
	if body != nil {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		resp.TransferEncoding = nil
	}
	return nil
}
