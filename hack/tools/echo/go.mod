// Module echo builds the Gateway API conformance echo server (echo-basic) that the local
// cluster runs for the conformance echo images. It lives apart from the product's go.mod
// because the conformance module drags in test-only dependencies.
module github.com/agentgateway/agentgateway-go/hack/tools/echo

go 1.26.0

require sigs.k8s.io/gateway-api/conformance v1.6.3

require (
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.37.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260427160629-7cedc36a6bc4 // indirect
	google.golang.org/grpc v1.81.1 // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
)
