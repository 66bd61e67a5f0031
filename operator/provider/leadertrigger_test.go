package provider

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/event"
)

// TestLeaderTriggerWaitsForElected: the trigger fires only once Elected is closed, which
// controller-runtime does after starting the leader-election runnables.
func TestLeaderTriggerWaitsForElected(t *testing.T) {
	elected := make(chan struct{})
	p := &Provider{elected: elected, trigger: make(chan event.GenericEvent, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- leaderTrigger{p}.Start(ctx) }()

	close(elected)
	if err := <-done; err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !p.isLeader() {
		t.Fatal("isLeader false after Elected closed")
	}
	select {
	case <-p.trigger:
	default:
		t.Fatal("no reconcile triggered after Elected closed")
	}
}

// TestLeaderTriggerStopsUnelected: a replica that never leads returns when the manager stops,
// without triggering.
func TestLeaderTriggerStopsUnelected(t *testing.T) {
	p := &Provider{elected: make(chan struct{}), trigger: make(chan event.GenericEvent, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (leaderTrigger{p}).Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case <-p.trigger:
		t.Fatal("triggered without being elected")
	default:
	}
}
