package main

import (
	"os"
	"os/signal"
	"syscall"
)

// waitSecondSignal lets an operator skip the drain period with a second
// SIGTERM/Ctrl-C.
func waitSecondSignal() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	return ch
}
