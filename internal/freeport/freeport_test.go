package freeport

import (
	"net"
	"testing"
)

func TestPortsAreDistinctAndBindable(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	address, err := Address()
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("the address handed out cannot be bound: %v", err)
	}
	listener.Close()
}

// TestPortsComeFromBelowTheEphemeralRange checks that ports are chosen
// where the kernel never puts the local end of an outgoing connection, so
// no connection of another process can take one before its server binds
// it.
func TestPortsComeFromBelowTheEphemeralRange(t *testing.T) {
	start := ephemeralRangeStart()
	if start <= lowestPort+1000 {
		t.Skipf("no room below the ephemeral range (it starts at %d)", start)
	}
	for range 50 {
		port, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if port < lowestPort || port >= start {
			t.Fatalf("port %d is outside [%d, %d)", port, lowestPort, start)
		}
	}
}
