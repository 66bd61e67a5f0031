// Package h3 serves HTTP/3 over QUIC (quic-go) for HTTPS listeners.
//
// The runtime creates one Server per HTTPS listener, on a UDP socket bound
// to the listener's port, with the same *tls.Config and the same swapping
// http.Handler as the TCP side: routing, filters and hot reload are shared,
// so nothing here changes on reload. Certificates that rotate should come
// through GetCertificate or GetConfigForClient so the config pointer stays
// put for the lifetime of the socket.
//
//	srv, err := h3.NewServer(handler, tlsConf, h3.Options{})
//	go srv.Serve(udpConn)                     // srv owns udpConn from now on
//	https.Handler = h3.WithAltSvc(port, handler) // TCP side announces h3
//	err = srv.Shutdown(ctx)                   // GOAWAY, drain, close socket
//
// 0-RTT is off (replayable early data). Per-connection concurrent streams,
// idle timeout and header size are bounded by Options, mirroring the HTTP/2
// limits of the TCP listener.
package h3
