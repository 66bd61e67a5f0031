// Command proxy is the agentgateway data plane: it serves one Gateway's
// configuration, read from a file (--config) or streamed from the
// operator's config server (--xds-address, package configstream).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentgateway/agentgateway-go/proxy/version"
)

func main() {
	if versionRequested(os.Args[1:]) {
		fmt.Println(version.String("proxy"))
		return
	}
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err = run(ctx, opts, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

// versionRequested reports whether args ask for --version. It is checked before the other
// flags so that `proxy --version` needs no --config. The proxy takes no positional
// arguments, so every argument up to "--" is looked at.
func versionRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "-version", "--version", "-version=true", "--version=true":
			return true
		case "--":
			return false
		}
	}
	return false
}
