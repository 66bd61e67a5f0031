package main

import (
	"strings"
	"testing"
	"time"

	"github.com/agentgateway/agentgateway-go/proxy/dataplane"
)

func TestLimitFlags(t *testing.T) {
	o, err := parseFlags([]string{"--config", "x.yaml", "--max-connections", "5", "--request-body-timeout", "0", "--response-header-timeout", "3s", "--idle-timeout", "7s"})
	if err != nil {
		t.Fatal(err)
	}
	ro := o.limits.apply(dataplane.Options{})
	if ro.MaxConnections != 5 || ro.RequestBodyTimeout != -1 || ro.ResponseHeaderTimeout != 3*time.Second || ro.IdleTimeout != 7*time.Second ||
		ro.ReadHeaderTimeout != 10*time.Second || ro.MaxHeaderBytes != 64<<10 || ro.MaxConcurrentStreams != 1000 {
		t.Errorf("options %+v", ro)
	}
	for _, args := range [][]string{{"--max-connections", "-1"}, {"--idle-timeout", "0"}, {"--max-request-header-bytes", "10"}, {"--request-body-timeout", "-1s"}} {
		if _, err := parseFlags(append([]string{"--config", "x.yaml"}, args...)); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
}
