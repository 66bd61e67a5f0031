package lbipam

import (
	"net"
	"testing"
)

func TestPool(t *testing.T) {
	p := Pool{First: net.ParseIP("10.245.0.10"), Last: net.ParseIP("10.245.0.12")}
	var got []string
	for c := p.First.To4(); p.contains(c); c = next(c) {
		got = append(got, c.String())
	}
	if len(got) != 3 || got[2] != "10.245.0.12" {
		t.Fatalf("walk = %v", got)
	}
	if p.contains(net.ParseIP("10.245.0.9")) || p.contains(net.ParseIP("10.245.1.10")) {
		t.Fatal("pool contains addresses outside it")
	}
	if next(net.ParseIP("10.0.0.255")).String() != "10.0.1.0" {
		t.Fatal("carry")
	}
}
