package mcp

import "time"

// SetSSEOpenTimeout sets sseOpenTimeout until the returned function restores it.
func SetSSEOpenTimeout(d time.Duration) (restore func()) {
	old := sseOpenTimeout
	sseOpenTimeout = d
	return func() { sseOpenTimeout = old }
}
