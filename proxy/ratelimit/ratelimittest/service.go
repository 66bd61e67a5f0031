// Package ratelimittest runs the Envoy rate-limit service
// (github.com/envoyproxy/ratelimit, built and cached by
// hack/ratelimit-service.sh) on its own redis-server for tests, over
// loopback sockets only. When redis-server or the service cannot be had the
// test is skipped, except with CI=true, where it fails.
package ratelimittest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// startTimeout bounds how long Redis and the service may take to be ready.
const startTimeout = 60 * time.Second

// Service is a running rate-limit service and its Redis.
type Service struct {
	// Addr is the service's gRPC address (127.0.0.1:port).
	Addr string

	t       testing.TB
	dir     string
	bin     string
	redis   *proc
	env     []string
	creds   credentials.TransportCredentials
	service *proc
	mu      sync.Mutex
}

type proc struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
	err  error // set before done closes
}

// Options change how the service runs.
type Options struct {
	// Env adds environment variables of the service (for example
	// LIMIT_RESPONSE_HEADERS_ENABLED=true).
	Env []string
	// TLSCertPEM and TLSKeyPEM, when set, make the service serve gRPC
	// over TLS only, with this certificate; ClientTLS is then how Start
	// checks that the service is ready.
	TLSCertPEM, TLSKeyPEM string
	ClientTLS             *tls.Config
}

// Start runs redis-server on a Unix socket and the rate-limit service on a
// free loopback port with config, the YAML of one domain; both are stopped
// when the test ends. It waits until the service answers for the domain.
func Start(t testing.TB, config string, opts Options) *Service {
	t.Helper()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed (hack/install-deps.sh installs it)")
	}
	bin := buildService(t)
	s := &Service{t: t, dir: t.TempDir(), bin: bin}
	sock := filepath.Join(s.dir, "redis.sock")
	s.redis = run(t, exec.Command(redisBin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", s.dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""))
	t.Cleanup(func() { s.redis.stop() })
	s.waitRedis(sock)

	cfgDir := filepath.Join(s.dir, "runtime", "ratelimit", "config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.env = append(os.Environ(),
		"USE_STATSD=false", "LOG_LEVEL=warn", "LOG_FORMAT=text",
		"HOST=127.0.0.1", "PORT=0", "DEBUG_HOST=127.0.0.1", "DEBUG_PORT=0",
		"GRPC_HOST=127.0.0.1", "GRPC_PORT="+strconv.Itoa(port),
		"BACKEND_TYPE=redis", "REDIS_SOCKET_TYPE=unix", "REDIS_URL="+sock,
		"RUNTIME_ROOT="+filepath.Join(s.dir, "runtime"), "RUNTIME_SUBDIRECTORY=ratelimit",
		"RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true")
	if opts.TLSCertPEM != "" {
		cert, key := filepath.Join(s.dir, "tls.crt"), filepath.Join(s.dir, "tls.key")
		if err := os.WriteFile(cert, []byte(opts.TLSCertPEM), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, []byte(opts.TLSKeyPEM), 0o600); err != nil {
			t.Fatal(err)
		}
		s.env = append(s.env, "GRPC_SERVER_USE_TLS=true", "GRPC_SERVER_TLS_CERT="+cert, "GRPC_SERVER_TLS_KEY="+key)
		s.creds = credentials.NewTLS(opts.ClientTLS)
	}
	s.env = append(s.env, opts.Env...)
	s.startService()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop stops the service (Redis keeps running) and waits for it to exit.
func (s *Service) Stop() {
	s.mu.Lock()
	p := s.service
	s.service = nil
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// Restart starts the service again after Stop, on the same port, with the
// counters Redis kept.
func (s *Service) Restart() {
	s.t.Helper()
	s.Stop()
	s.startService()
}

func (s *Service) startService() {
	s.t.Helper()
	cmd := exec.Command(s.bin)
	cmd.Env = s.env
	cmd.Dir = s.dir
	p := run(s.t, cmd)
	s.mu.Lock()
	s.service = p
	s.mu.Unlock()
	s.waitService(p)
}

// waitRedis waits until Redis answers PING on its socket.
func (s *Service) waitRedis(sock string) {
	s.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(sock)
		if err == nil {
			return
		}
		select {
		case <-s.redis.done:
			s.t.Fatalf("redis-server exited: %v\n%s", s.redis.err, s.redis.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not ready after %v: %v\n%s", startTimeout, err, s.redis.log)
		}
	}
}

func ping(sock string) error {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// waitService waits until the service has loaded its configuration: a
// call with an empty domain then fails with a configuration error rather
// than a connection error; any answer from the service's handler shows it
// is serving.
func (s *Service) waitService(p *proc) {
	s.t.Helper()
	creds := s.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cc.Close()
	client := rlsv3.NewRateLimitServiceClient(cc)
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.ShouldRateLimit(ctx, &rlsv3.RateLimitRequest{Domain: "ratelimittest-readiness",
			Descriptors: []*rlv3.RateLimitDescriptor{{Entries: []*rlv3.RateLimitDescriptor_Entry{{Key: "k", Value: "v"}}}}})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.done:
			s.t.Fatalf("rate-limit service exited: %v\n%s", p.err, p.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("rate-limit service not ready after %v: %v\n%s", startTimeout, err, p.log)
		}
	}
}

// run starts cmd with its output in a buffer, reported when the test fails.
func run(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, log: &bytes.Buffer{}, done: make(chan struct{})}
	w := &lockedWriter{b: p.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), w.String())
		}
	})
	return p
}

// stop kills the process (this test's own child, by pid) and waits for it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		panic(fmt.Sprintf("killing %s: %v", p.cmd.Path, err))
	}
	<-p.done
}

type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// buildService returns the service binary, built by
// hack/ratelimit-service.sh when not cached yet.
func buildService(t testing.TB) string {
	t.Helper()
	script, err := findScript()
	if err != nil {
		unavailable(t, err.Error())
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		unavailable(t, fmt.Sprintf("building the rate-limit service (%s): %v\n%s", script, err, stderr.String()))
	}
	return strings.TrimSpace(string(out))
}

// findScript finds hack/ratelimit-service.sh above the working directory.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "ratelimit-service.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/ratelimit-service.sh not found above the working directory")
		}
		dir = parent
	}
}

// unavailable skips the test, or fails it in CI, where every tool must be
// there.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: not skipping)", why)
	}
	t.Skip(why)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
