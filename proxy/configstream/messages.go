package configstream

import (
	"encoding/json"
	"fmt"

	"github.com/agentgateway/agentgateway-go/proxy/config"
	"github.com/agentgateway/agentgateway-go/proxy/configdelta"
)

// Node identifies one proxy process.
type Node struct {
	// Pod is the proxy pod name (POD_NAME from the downward API).
	Pod string `json:"pod"`
	// Namespace is the pod's namespace; the Gateway is in the same namespace.
	Namespace string `json:"namespace"`
	// Gateway is the name of the Gateway the proxy serves.
	Gateway string `json:"gateway"`
	// BuildVersion is the proxy binary's version, shown in proxystatus.
	BuildVersion string `json:"buildVersion,omitempty"`
}

// Key is the Gateway the node serves.
func (n Node) Key() GatewayKey { return GatewayKey{Namespace: n.Namespace, Name: n.Gateway} }

func (n Node) String() string { return n.Namespace + "/" + n.Pod + " (gateway " + n.Gateway + ")" }

// GatewayKey names a Gateway without depending on Kubernetes types.
type GatewayKey struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (k GatewayKey) String() string { return k.Namespace + "/" + k.Name }

// Request is a message from the proxy to the operator.
type Request struct {
	// Node is required on the first message of a stream and ignored afterwards.
	Node *Node `json:"node,omitempty"`
	// Running is the version the proxy serves now ("" before its first config). On the first
	// message it lets the server skip a push the proxy already has (resume).
	Running string `json:"running,omitempty"`
	// Version and Nonce name the Response this message answers (ACK or NACK).
	Version string `json:"version,omitempty"`
	Nonce   string `json:"nonce,omitempty"`
	// Error is set on a NACK: why the proxy rejected Version. The proxy still runs Running.
	Error string `json:"error,omitempty"`
	// Heartbeat marks a keep-alive message that answers nothing.
	Heartbeat bool `json:"heartbeat,omitempty"`
	// Deltas, on the first message, says the proxy applies Response.Delta. A proxy that
	// does not say so always receives whole configs.
	Deltas bool `json:"deltas,omitempty"`
	// Resend answers a delta the proxy could not rebuild a config from (Error says why):
	// it asks for the version whole. It is not a rejection of the config.
	Resend bool `json:"resend,omitempty"`
}

// IsAnswer reports whether the request ACKs or NACKs a response.
func (r *Request) IsAnswer() bool { return r.Nonce != "" }

// Response is a message from the operator to the proxy: one config version, either whole
// (Config) or as its changes from the version the proxy runs (Delta, only to a proxy that
// announced Deltas and acknowledged that base on this stream).
type Response struct {
	Version string             `json:"version"`
	Nonce   string             `json:"nonce"`
	Config  *config.Config     `json:"config,omitempty"`
	Delta   *configdelta.Delta `json:"delta,omitempty"`
}

// VersionOf returns a content hash of c (ignoring c.Version), suitable as Config.Version:
// identical configs get identical versions, so republishing one is a no-op. It is the
// Version of configdelta.Encode(c).
func VersionOf(c *config.Config) (string, error) {
	e, err := configdelta.Encode(c)
	if err != nil {
		return "", err
	}
	return e.Version, nil
}

// fullJSON returns c's JSON with an empty version, as a whole push carries it (the
// Response names the version).
func fullJSON(c *config.Config) ([]byte, error) {
	cp := *c
	cp.Version = ""
	raw, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return raw, nil
}

// encodedResponse is a Response whose config or delta is already JSON: one encoding of a
// version (or of a delta) serves every push of it, to every proxy of the Gateway. The
// codec writes it as is; on the wire it is a Response.
type encodedResponse struct {
	version, nonce string
	// config is the whole config (fullJSON), or else delta is a configdelta.Diff.
	config, delta []byte
}

func (r *encodedResponse) wire() ([]byte, error) {
	v, err := json.Marshal(r.version)
	if err != nil {
		return nil, err
	}
	n, err := json.Marshal(r.nonce)
	if err != nil {
		return nil, err
	}
	field, body := `,"config":`, r.config
	if r.config == nil {
		field, body = `,"delta":`, r.delta
	}
	b := make([]byte, 0, len(body)+len(v)+len(n)+40)
	b = append(b, `{"version":`...)
	b = append(b, v...)
	b = append(b, `,"nonce":`...)
	b = append(b, n...)
	b = append(b, field...)
	b = append(b, body...)
	return append(b, '}'), nil
}
