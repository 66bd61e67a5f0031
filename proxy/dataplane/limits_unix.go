//go:build unix

package dataplane

import "syscall"

// shutdownSocket ends both directions of a socket, whatever descriptors
// refer to it.
func shutdownSocket(fd uintptr) {
	syscall.Shutdown(int(fd), syscall.SHUT_RDWR) //nolint:errcheck // the socket is closed next either way
}

// openFileLimit is the process's limit of open descriptors.
func openFileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return rl.Cur, true
}
