package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// logs opens a container's log file for `kubectl logs`. With Follow, the reader keeps
// returning new lines until the request ends or the pod goes away.
func (r *podRun) logs(ctx context.Context, ctr string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	r.mu.Lock()
	cr := r.ctrs[ctr]
	r.mu.Unlock()
	if cr == nil {
		return nil, fmt.Errorf("container %q not found in pod %s", ctr, r.key)
	}
	path := r.logPath(ctr)
	if opts.Previous {
		path = r.previousLogPath(ctr)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		if err := seekTail(f, opts.Tail); err != nil {
			f.Close() //nolint:errcheck // read only: the seek error is the one to report
			return nil, err
		}
	}
	var rc io.ReadCloser = f
	if opts.Follow && !opts.Previous {
		rc = &follower{f: f, ctx: ctx, stop: r.stopCh}
	}
	if opts.LimitBytes > 0 {
		rc = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(rc, int64(opts.LimitBytes)), rc}
	}
	return rc, nil
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	const chunk = 8192
	lines := 0
	pos := size
	buf := make([]byte, chunk)
	for pos > 0 {
		step := int64(chunk)
		if pos < step {
			step = pos
		}
		pos -= step
		if _, err := f.ReadAt(buf[:step], pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for i := step - 1; i >= 0; i-- {
			if buf[i] == '\n' && pos+i != size-1 {
				lines++
				if lines == n {
					_, err := f.Seek(pos+i+1, io.SeekStart)
					return err
				}
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

type follower struct {
	f    *os.File
	ctx  context.Context
	stop <-chan struct{}
}

func (fl *follower) Read(p []byte) (int, error) {
	for {
		n, err := fl.f.Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		select {
		case <-fl.ctx.Done():
			return 0, io.EOF
		case <-fl.stop:
			return 0, io.EOF
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (fl *follower) Close() error { return fl.f.Close() }
