//go:build !unix

package dataplane

// shutdownSocket does nothing where descriptors are not duplicated
// (h1.Conn.Watch uses them on Linux only).
func shutdownSocket(uintptr) {}

// openFileLimit is not known here.
func openFileLimit() (uint64, bool) { return 0, false }
