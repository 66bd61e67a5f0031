package dataplane

import "sync"

// bufferPool recycles the body copy buffers of httputil.ReverseProxy,
// which otherwise allocates 32 KiB per request: at tens of thousands of
// requests per second that garbage dominates CPU.
type bufferPool struct{ p sync.Pool }

var copyBuffers = &bufferPool{p: sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}}

func (bp *bufferPool) Get() []byte { return *(bp.p.Get().(*[]byte)) }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= 32<<10 {
		b = b[:32<<10]
		bp.p.Put(&b)
	}
}
