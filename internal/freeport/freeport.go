// Package freeport hands out loopback ports for servers that must be told
// their address before they listen (peer URLs in an initial cluster).
//
// Ports come from below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), where the kernel never picks
// the local port of an outgoing connection or of a listener on port 0: a
// port taken from the ephemeral range and closed again can be given to
// any connection any process opens before the server binds it, which on a
// busy machine running many tests made servers fail with "address already
// in use". Below the range, only another caller choosing ports the same
// way can race for it, and the random choice makes that rare. The package
// also remembers what it handed out in this process and never returns the
// same port twice. A server that still loses the race fails to start with
// a clear error.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// lowestPort is the bottom of the range Port chooses from; below it lie
// the well-known and commonly configured ports.
const lowestPort = 10000

// Port returns a port on 127.0.0.1 that was free a moment ago and that no
// earlier call in this process returned. Safe for concurrent use.
func Port() (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	if ephemeralStart := ephemeralRangeStart(); ephemeralStart > lowestPort+1000 {
		for range 100 {
			port := lowestPort + rand.IntN(ephemeralStart-lowestPort)
			if handedOut.ports[port] || !bindable(port) {
				continue
			}
			handedOut.ports[port] = true
			return port, nil
		}
	}
	// No room below the ephemeral range (or none of it free): let the
	// kernel choose.
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

// bindable reports whether a listener can bind 127.0.0.1:port now.
func bindable(port int) bool {
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	listener.Close()
	return true
}

// ephemeralRangeStart is the first port of the kernel's ephemeral range,
// or 0 if it cannot be read (not Linux).
func ephemeralRangeStart() int {
	content, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(content))
	if len(fields) != 2 {
		return 0
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return start
}

// Address returns "127.0.0.1:PORT" for a port from Port.
func Address() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
