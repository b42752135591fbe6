package proxy

import (
	"net"
	"sync"
)

// connection is one proxied connection: the source's side (downstream)
// and the member's side (upstream).
type connection struct {
	source     string
	downstream net.Conn
	upstream   net.Conn
	closeOnce  sync.Once
	closed     chan struct{}
}

func newConnection(source string, downstream, upstream net.Conn) *connection {
	return &connection{source: source, downstream: downstream, upstream: upstream, closed: make(chan struct{})}
}

// close closes both sides, which ends both pumps. Safe to call many times
// from any goroutine.
func (connection *connection) close() {
	connection.closeOnce.Do(func() {
		close(connection.closed)
		connection.downstream.Close()
		connection.upstream.Close()
	})
}

// pumpBufferSize is the most one read moves before the rules are consulted
// again.
const pumpBufferSize = 32 << 10

// pump copies bytes in one direction, consulting the rules before each
// read (so a stall stops reading and back-pressure reaches the sender)
// and again before each write (so a stall that began during a blocked read
// holds back what was read).
func (proxy *Proxy) pump(connection *connection, direction Direction) {
	defer connection.close()
	from, to := connection.downstream, connection.upstream
	if direction == Outbound {
		from, to = connection.upstream, connection.downstream
	}
	buffer := make([]byte, pumpBufferSize)
	for {
		if !proxy.waitUntilPassing(connection, direction) {
			return
		}
		count, readErr := from.Read(buffer)
		if count > 0 {
			if !proxy.waitUntilPassing(connection, direction) {
				return
			}
			if _, err := to.Write(buffer[:count]); err != nil {
				return
			}
		}
		if readErr != nil {
			return
		}
	}
}

// waitUntilPassing blocks while the connection's traffic in direction is
// stalled. It returns false when the connection is closed or refused.
func (proxy *Proxy) waitUntilPassing(connection *connection, direction Direction) bool {
	for {
		proxy.mutex.Lock()
		mode := modeFor(proxy.rules, connection.source, direction)
		changed := proxy.changed
		proxy.mutex.Unlock()
		switch mode {
		case Pass:
			return true
		case Refuse:
			connection.close()
			return false
		}
		select {
		case <-changed:
		case <-connection.closed:
			return false
		}
	}
}
