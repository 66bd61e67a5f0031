// Command operator is the agentgateway control plane: it turns Gateway API objects into
// proxy configurations, runs a proxy Deployment per Gateway, and reports status. See
// operator/doc.go for the architecture.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentgateway/agentgateway-go/operator/app"
)

func main() {
	var o app.Options
	fs := flag.NewFlagSet("operator", flag.ExitOnError)
	o.AddFlags(fs)
	fs.Parse(os.Args[1:])
	c, err := o.Complete(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(2)
	}
	app.SetGlobalLoggers(c.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := app.Run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}
