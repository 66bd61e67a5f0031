package configstream

import (
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
)

// jsonCodec marshals messages as JSON. It is forced on both ends (never registered
// globally) so it cannot affect other gRPC services in the same process.
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
	if w, ok := v.(preEncoded); ok {
		return w.wire()
	}
	return json.Marshal(v)
}

// preEncoded messages carry their own wire bytes (see encodedResponse).
type preEncoded interface{ wire() ([]byte, error) }

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("configstream: decode %T: %w", v, err)
	}
	return nil
}

func (jsonCodec) Name() string { return "json" }

// ServerCodec is the grpc.ServerOption a server hosting this service must use.
func ServerCodec() grpc.ServerOption { return grpc.ForceServerCodec(jsonCodec{}) }

// CallCodec is the grpc.CallOption a client of this service must use.
func CallCodec() grpc.CallOption { return grpc.ForceCodec(jsonCodec{}) }

const (
	serviceName = "agentgateway.configstream.v1.ConfigStream"
	methodName  = "Stream"
	fullMethod  = "/" + serviceName + "/" + methodName
)

// handler is what the ServiceDesc dispatches to.
type handler interface {
	stream(grpc.ServerStream) error
}

// serviceDesc is registered by hand: one bidirectional streaming method.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*handler)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    methodName,
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(handler).stream(ss)
		},
	}},
	Metadata: "configstream",
}

var streamDesc = &serviceDesc.Streams[0]
