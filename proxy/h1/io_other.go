//go:build !linux

package h1

// Elsewhere sockets use the net.Conn methods.

func (c *Conn) read(p []byte) (int, error) { return c.nc.Read(p) }

func (c *Conn) write(p []byte) error {
	_, err := c.nc.Write(p)
	return err
}

func (c *Conn) rawFlushAndFill() error {
	if err := c.Flush(); err != nil {
		return &WriteError{err}
	}
	return c.Fill()
}

// Alive reports true: there is no cheap check here.
func (c *Conn) Alive() bool { return true }

const sessions = false

func (c *Conn) serve(func() Step) error { return ErrNoSession }

func (c *Conn) watchRaw(func()) (func(), bool) { return nil, false }
