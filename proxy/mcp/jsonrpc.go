package mcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// message is one JSON-RPC 2.0 message: a request (Method and ID), a
// notification (Method, no ID) or a response (ID and Result or Error).
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// JSON-RPC and MCP error codes.
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
	// codeUnavailable is what the gateway answers when a target cannot
	// be reached (implementation-defined server error range).
	codeUnavailable = -32001
	// codeForbidden answers a call the caller is not authorized to make.
	codeForbidden = -32003
)

func (m *message) isRequest() bool      { return m.Method != "" && len(m.ID) > 0 }
func (m *message) isNotification() bool { return m.Method != "" && len(m.ID) == 0 }
func (m *message) isResponse() bool     { return m.Method == "" && len(m.ID) > 0 }

// jsonOf encodes values that always encode (strings, maps of strings and
// raw messages); it returns null for anything else.
func jsonOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func resultMessage(id json.RawMessage, result any) *message {
	b, err := json.Marshal(result)
	if err != nil {
		return errorMessage(id, codeInternal, err.Error())
	}
	return &message{JSONRPC: "2.0", ID: id, Result: b}
}

func errorMessage(id json.RawMessage, code int, msg string) *message {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return &message{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// Server-to-client request ids are rewritten to "agw:<target index>:<id>"
// (the original id's JSON) so that the client's answer finds its target.
const idPrefix = "agw:"

func wrapID(target int, id json.RawMessage) json.RawMessage {
	return jsonOf(idPrefix + strconv.Itoa(target) + ":" + string(id))
}

func unwrapID(id json.RawMessage) (target int, orig json.RawMessage, ok bool) {
	var s string
	if json.Unmarshal(id, &s) != nil || !strings.HasPrefix(s, idPrefix) {
		return 0, nil, false
	}
	idx, rest, found := strings.Cut(s[len(idPrefix):], ":")
	if !found {
		return 0, nil, false
	}
	t, err := strconv.Atoi(idx)
	if err != nil || !json.Valid([]byte(rest)) {
		return 0, nil, false
	}
	return t, json.RawMessage(rest), true
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Event string
	ID    string
	Data  []byte
}

// sseReader reads server-sent events.
type sseReader struct{ r *bufio.Reader }

func newSSEReader(r io.Reader) *sseReader { return &sseReader{bufio.NewReaderSize(r, 16<<10)} }

// next returns the next event with data (comments and empty events are
// skipped), or an error at the end of the stream.
func (s *sseReader) next() (*sseEvent, error) {
	ev := &sseEvent{}
	var data bytes.Buffer
	hasData := false
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil && (len(line) == 0 || err != io.EOF) {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if hasData {
				ev.Data = data.Bytes()
				return ev, nil
			}
			ev = &sseEvent{}
			if err != nil {
				return nil, err
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "id":
			ev.ID = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
		if err != nil { // EOF after a last line without newline
			if hasData {
				ev.Data = data.Bytes()
				return ev, nil
			}
			return nil, err
		}
	}
}

// writeSSE writes one "message" event.
func writeSSE(w io.Writer, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: message\n")
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}
