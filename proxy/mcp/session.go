package mcp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// session is what a client-facing session id seals: the version
// negotiated with the client and each target's session, in target order.
type session struct {
	// Version is the protocol version negotiated with the client.
	Version string `json:"v"`
	// Targets are by index of config.MCPBackend.Targets.
	Targets []targetSession `json:"t"`
	// Nonce tells sessions apart for targets that gave no session id
	// (stateless servers, SSE targets) and keys per-replica state.
	Nonce string `json:"n"`
}

// targetSession is one target's side of a session.
type targetSession struct {
	// Name guards against a changed target list: a session sealed for
	// other targets is not used for these.
	Name string `json:"name"`
	// ID is the target's Mcp-Session-Id ("" for servers without one).
	ID string `json:"id,omitempty"`
	// Version is the protocol version the target negotiated.
	Version string `json:"v,omitempty"`
	// Down marks a target that failed to initialize (FailOpen).
	Down bool `json:"down,omitempty"`
}

// sealer encrypts and authenticates session ids with AES-256-GCM under a
// key derived from the configured session key and the backend name, so a
// client can neither read nor forge the targets' session ids, and an id of
// one backend does not open a session of another.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte, backend string) (*sealer, error) {
	if len(key) < 32 {
		return nil, errors.New("session key must hold at least 32 bytes")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("agentgateway mcp session\x00" + backend))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(sess *session) (string, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil)), nil
}

var errBadSession = errors.New("unknown or forged session id")

func (s *sealer) open(id string) (*session, error) {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errBadSession
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], nil)
	if err != nil {
		return nil, errBadSession
	}
	var sess session
	if err := json.Unmarshal(plain, &sess); err != nil {
		return nil, errBadSession
	}
	return &sess, nil
}
