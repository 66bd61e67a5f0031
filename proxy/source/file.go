// Package source feeds configs to the runtime from a file: File watches a
// YAML/JSON file (standalone use, tests, benchmarks). The operator's stream
// is the other source, package configstream. Every source follows the same rule: a config that fails to decode,
// validate or apply is reported and changes nothing, and losing the source
// keeps the last good config serving.
package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/config"
)

// ErrDecode marks errors of configs that could not be decoded (and so
// never reached Apply).
var ErrDecode = errors.New("config does not decode")

// File polls a config file and applies it whenever its content changes.
// Polling the content hash (rather than fsnotify) also catches the atomic
// symlink swap Kubernetes uses for mounted ConfigMaps, and costs one small
// read per interval.
type File struct {
	// Path of the config file.
	Path string
	// Interval between checks; default 1s.
	Interval time.Duration
	// Apply installs a decoded config (runtime.Runtime.Apply).
	Apply func(*config.Config) error
	// Report, if set, is called after every attempt with the version (if
	// decoding got that far) and the error, nil on success.
	Report func(version string, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	last [sha256.Size]byte // content last attempted, applied or not
	seen bool
}

// Check reads the file once and applies it if its content changed since
// the last attempt. It returns whether an attempt was made and its error.
// A failed attempt is not retried until the content changes again.
func (f *File) Check() (attempted bool, err error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return false, fmt.Errorf("read config %s: %w (keeping the current config)", f.Path, err)
	}
	sum := sha256.Sum256(data)
	if f.seen && bytes.Equal(sum[:], f.last[:]) {
		return false, nil
	}
	f.last, f.seen = sum, true
	version := ""
	c, err := config.Decode(data)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrDecode, err)
	} else {
		version = c.Version
		err = f.Apply(c)
	}
	if f.Report != nil {
		f.Report(version, err)
	}
	if err != nil {
		return true, fmt.Errorf("config %s (version %q) rejected, keeping the current config: %w", f.Path, version, err)
	}
	return true, nil
}

// Run checks the file immediately and then every Interval until ctx ends.
// Errors are logged, never fatal: the proxy keeps its last good config.
func (f *File) Run(ctx context.Context) {
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	interval := f.Interval
	if interval <= 0 {
		interval = time.Second
	}
	lastErr := ""
	check := func() {
		attempted, err := f.Check()
		switch {
		case err != nil && err.Error() != lastErr:
			// Log a persisting problem (a missing file) once, not on
			// every poll.
			log.Error("config source", "path", f.Path, "error", err)
			lastErr = err.Error()
		case err == nil && attempted:
			log.Info("config file applied", "path", f.Path)
			lastErr = ""
		case err == nil:
			lastErr = ""
		}
	}
	check()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}
