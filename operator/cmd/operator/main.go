// Command operator is the agentgateway control plane: it turns Gateway API objects into
// proxy configurations, runs a proxy Deployment per Gateway, reports status, serves the
// admission webhooks and the views.agentgateway.dev API. See operator/doc.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/agentgateway/agentgateway-go/operator/apiserver"
	"github.com/agentgateway/agentgateway-go/operator/app"
	"github.com/agentgateway/agentgateway-go/proxy/version"
)

func main() {
	var o app.Options
	gofs := flag.NewFlagSet("operator", flag.ExitOnError)
	o.AddFlags(gofs)
	fs := pflag.NewFlagSet("operator", pflag.ExitOnError)
	fs.AddGoFlagSet(gofs)
	api := apiserver.NewOptions()
	api.AddFlags(fs)
	showVersion := fs.Bool("version", false, "print the version, revision and Go version, then exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String("operator"))
		return
	}

	c, err := o.Complete(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(2)
	}
	c.Hooks = app.StandardHooks(&o, api)
	app.SetGlobalLoggers(c.Log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err = app.Run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}
