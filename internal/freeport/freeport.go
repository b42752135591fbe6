// Package freeport hands out loopback ports for servers that must be told
// their address before they listen (peer URLs in an initial cluster). A
// port the kernel offered and that was closed again may be offered again at
// once, so the package remembers what it handed out in this process and
// never returns the same port twice. Another process may still take a port
// before it is bound; the server then fails to start with a clear error.
package freeport

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Port returns a port on 127.0.0.1 that was free a moment ago and that no
// earlier call in this process returned. Safe for concurrent use.
func Port() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		port := listener.Addr().(*net.TCPAddr).Port
		listener.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("freeport: the kernel keeps offering ports already handed out")
}

// Address is Port as "127.0.0.1:port".
func Address() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
