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
