// Package rawgrpc is the gRPC service of the benchmarks without generated
// code: messages are sent as the bytes they are (Codec), and the service
// bench.Bench has a unary method that answers with an empty message and a
// bidirectional streaming method that echoes every message.
package rawgrpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
)

// Codec marshals *[]byte as itself. Its name is "proto" so the content type
// is the ordinary application/grpc.
type Codec struct{}

// Marshal returns the bytes v points to.
func (Codec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawgrpc: %T is not *[]byte", v)
	}
	return *b, nil
}

// Unmarshal copies data into the slice v points to.
func (Codec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawgrpc: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// Name is the codec's content subtype.
func (Codec) Name() string { return "proto" }

// Method names, for clients.
const (
	Unary  = "/bench.Bench/Unary"
	Stream = "/bench.Bench/Stream"
)

// StreamDesc describes the streaming method, for clients.
var StreamDesc = grpc.StreamDesc{StreamName: "Stream", ServerStreams: true, ClientStreams: true}

type benchServer interface{}

type server struct{}

// Register adds bench.Bench to s; s must use Codec (grpc.ForceServerCodec).
func Register(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "bench.Bench",
		HandlerType: (*benchServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Unary",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				in := new([]byte)
				if err := dec(in); err != nil {
					return nil, err
				}
				return new([]byte), nil
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Stream",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(_ any, st grpc.ServerStream) error {
				msg := new([]byte)
				for {
					if err := st.RecvMsg(msg); err != nil {
						if errors.Is(err, io.EOF) {
							return nil
						}
						return err
					}
					if err := st.SendMsg(msg); err != nil {
						return err
					}
				}
			},
		}},
	}, server{})
}
