package l4

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

const (
	recordTypeHandshake    = 22
	handshakeClientHello   = 1
	recordHeaderLen        = 5
	maxRecordPayload       = 16384 + 2048 // TLSCiphertext may exceed 2^14 by 2048; plaintext hellos never should, but be lenient
	maxClientHelloLen      = 64 << 10     // bounds memory per pending connection; real hellos are a few KiB even with PQ key shares
	extensionServerName    = 0
	serverNameTypeHostName = 0
)

var errNotTLS = errors.New("first bytes are not a TLS handshake record")

// readClientHello reads whole TLS records from r until it holds a complete
// ClientHello, and returns every byte it read so the caller can replay them
// to the backend untouched (passthrough must not alter the handshake, or the
// client's transcript hash breaks). sni is empty when the hello has no
// server_name extension.
//
// It parses the hello itself rather than running crypto/tls against a replay
// conn: this needs only the SNI, allocates one buffer, and cannot be
// confused by TLS versions or extensions crypto/tls does not implement.
func readClientHello(r io.Reader) (raw []byte, sni string, err error) {
	raw = make([]byte, 0, 2048)
	var hs []byte // the handshake message bytes, reassembled across records
	for {
		start := len(raw)
		raw, err = readFull(r, raw, recordHeaderLen)
		if err != nil {
			return raw, "", err
		}
		hdr := raw[start:]
		if hdr[0] != recordTypeHandshake {
			return raw, "", errNotTLS
		}
		// Any 3.x record version is accepted: clients send 3.1 in the first
		// record for compatibility regardless of what they negotiate.
		if hdr[1] != 3 {
			return raw, "", errNotTLS
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecordPayload {
			return raw, "", fmt.Errorf("tls record length %d out of range", n)
		}
		if len(raw)+n > maxClientHelloLen {
			return raw, "", fmt.Errorf("client hello exceeds %d bytes", maxClientHelloLen)
		}
		start = len(raw)
		raw, err = readFull(r, raw, n)
		if err != nil {
			return raw, "", err
		}
		hs = append(hs, raw[start:]...)
		if len(hs) < 4 {
			continue
		}
		if hs[0] != handshakeClientHello {
			return raw, "", errNotTLS
		}
		msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if msgLen > maxClientHelloLen {
			return raw, "", fmt.Errorf("client hello exceeds %d bytes", maxClientHelloLen)
		}
		if len(hs) < 4+msgLen {
			continue
		}
		sni, err = parseClientHelloSNI(hs[4 : 4+msgLen])
		return raw, sni, err
	}
}

// readFull appends exactly n bytes from r to buf.
func readFull(r io.Reader, buf []byte, n int) ([]byte, error) {
	start := len(buf)
	buf = slices.Grow(buf, n)[:start+n]
	m, err := io.ReadFull(r, buf[start:])
	buf = buf[:start+m]
	if err == io.EOF && m == 0 && start > 0 {
		err = io.ErrUnexpectedEOF
	}
	return buf, err
}

// parseClientHelloSNI extracts the host_name from a ClientHello body (the
// handshake message without its 4-byte header), per RFC 8446 §4.1.2 and
// RFC 6066 §3.
func parseClientHelloSNI(body []byte) (string, error) {
	s := cryptobyte.String(body)
	var (
		version   uint16
		random    []byte
		sessionID cryptobyte.String
		suites    cryptobyte.String
		comp      cryptobyte.String
	)
	if !s.ReadUint16(&version) ||
		!s.ReadBytes(&random, 32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) ||
		!s.ReadUint16LengthPrefixed(&suites) ||
		!s.ReadUint8LengthPrefixed(&comp) {
		return "", errors.New("malformed client hello")
	}
	if s.Empty() {
		return "", nil // no extensions at all (SSLv3-style hello)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return "", errors.New("malformed client hello extensions")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", errors.New("malformed client hello extension")
		}
		if typ != extensionServerName {
			continue
		}
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) || list.Empty() {
			return "", errors.New("malformed server_name extension")
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return "", errors.New("malformed server_name entry")
			}
			if nameType == serverNameTypeHostName {
				if len(name) == 0 {
					return "", errors.New("empty server_name")
				}
				return string(name), nil
			}
		}
		return "", nil
	}
	return "", nil
}
