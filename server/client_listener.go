package server

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// A client port serves two protocols, as etcd's does: gRPC (the etcd API)
// and HTTP/1.1 (/version, /health, /metrics and the JSON gateway, see
// client_http.go). The client listener tells them apart per connection,
// before either protocol reads a byte: over TLS by the application
// protocol the client asked for (ALPN: "h2" is gRPC, anything else HTTP),
// in plaintext by the first bytes, which are HTTP/2's preface ("PRI *
// HTTP/2.0...") on a gRPC connection and a method name on an HTTP one.
// Only the first bytes are read ahead; after them a gRPC connection is
// read directly, so the split costs gRPC nothing once a connection is up.
//
// Over TLS an HTTP client must speak HTTP/1.1 (curl --http1.1): a client
// that negotiates HTTP/2 is taken for a gRPC one.

// clientClassifyTimeout bounds the TLS handshake and the read of the first
// bytes of an accepted client connection, so a client that connects and
// says nothing holds a goroutine that long at most.
const clientClassifyTimeout = 10 * time.Second

// http2PrefacePrefix starts HTTP/2's client preface; no HTTP/1 method
// starts with it.
const http2PrefacePrefix = "PRI"

// clientProtocols are the application protocols a TLS client port offers:
// HTTP/2 (gRPC) first, then HTTP/1.1.
var clientProtocols = []string{"h2", "http/1.1"}

// clientListener accepts connections on one client port and routes each
// to the gRPC server or the HTTP server, through their own net.Listener
// (grpcListener, httpListener).
type clientListener struct {
	listener net.Listener
	// tls, if set, is the server configuration offering clientProtocols;
	// the handshake happens here, and gRPC's credentials
	// (handshakenCredentials) take the connection as it is.
	tls     *tls.Config
	timeout time.Duration
	logger  *slog.Logger
	group   *sync.WaitGroup

	grpc, http *routedListener

	closed    chan struct{}
	closeOnce sync.Once
	// routing holds the connections being classified; close closes them.
	mu      sync.Mutex
	routing map[net.Conn]struct{}
}

func newClientListener(listener net.Listener, serverTLS *tls.Config, group *sync.WaitGroup, logger *slog.Logger) *clientListener {
	l := &clientListener{listener: listener, timeout: clientClassifyTimeout, logger: logger, group: group,
		closed: make(chan struct{}), routing: make(map[net.Conn]struct{})}
	l.grpc, l.http = newRoutedListener(l), newRoutedListener(l)
	if serverTLS != nil {
		l.tls = withClientProtocols(serverTLS)
	}
	return l
}

// withClientProtocols returns a copy of the client port's TLS
// configuration that offers clientProtocols, also in the configurations
// its GetConfigForClient returns, if it has one.
func withClientProtocols(serverTLS *tls.Config) *tls.Config {
	config := serverTLS.Clone()
	config.NextProtos = clientProtocols
	if perClient := config.GetConfigForClient; perClient != nil {
		config.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			chosen, err := perClient(hello)
			if err != nil || chosen == nil {
				return chosen, err
			}
			chosen = chosen.Clone()
			chosen.NextProtos = clientProtocols
			return chosen, nil
		}
	}
	return config
}

// run accepts connections until the listener is closed. It runs on a
// goroutine of its own (in group).
func (l *clientListener) run() {
	for {
		conn, err := l.listener.Accept()
		if err != nil {
			var temporary interface{ Temporary() bool }
			if errors.As(err, &temporary) && temporary.Temporary() {
				select {
				case <-l.closed:
					return
				case <-time.After(5 * time.Millisecond):
				}
				continue
			}
			select {
			case <-l.closed:
			default:
				l.logger.Error("the client port stopped accepting connections", "address", l.listener.Addr().String(), "error", err)
			}
			l.close()
			return
		}
		l.group.Go(func() { l.route(conn) })
	}
}

// route finishes the TLS handshake, if any, reads what tells the protocol
// apart, and hands the connection on. A connection that fails either step
// is closed.
func (l *clientListener) route(conn net.Conn) {
	if !l.hold(conn) {
		conn.Close()
		return
	}
	defer l.release(conn)
	_ = conn.SetDeadline(time.Now().Add(l.timeout))
	if l.tls != nil {
		secure := tls.Server(conn, l.tls)
		if err := secure.Handshake(); err != nil {
			l.logger.Debug("a client's TLS handshake failed", "remote", conn.RemoteAddr().String(), "error", err)
			conn.Close()
			return
		}
		if secure.ConnectionState().NegotiatedProtocol == "h2" {
			l.grpc.deliver(secure)
		} else {
			l.http.deliver(secure)
		}
		return
	}
	start := make([]byte, len(http2PrefacePrefix))
	if _, err := io.ReadFull(conn, start); err != nil {
		conn.Close()
		return
	}
	routed := &prefixedConn{Conn: conn, prefix: start}
	if string(start) == http2PrefacePrefix {
		l.grpc.deliver(routed)
	} else {
		l.http.deliver(routed)
	}
}

// hold records a connection being classified; false once the listener is
// closed.
func (l *clientListener) hold(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	l.routing[conn] = struct{}{}
	return true
}

func (l *clientListener) release(conn net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.routing, conn)
}

// close stops accepting and closes the connections still being
// classified; connections already handed on belong to their server.
func (l *clientListener) close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.closed)
		for conn := range l.routing {
			conn.Close()
		}
		l.mu.Unlock()
		l.listener.Close()
	})
}

// routedListener is the net.Listener one server (gRPC's or HTTP's) serves:
// the connections the client listener routed to it. Closing it (which
// the server does when it stops) closes only this view; the port closes
// with the client listener.
type routedListener struct {
	parent      *clientListener
	connections chan net.Conn
	closed      chan struct{}
	closeOnce   sync.Once
}

func newRoutedListener(parent *clientListener) *routedListener {
	return &routedListener{parent: parent, connections: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver hands a classified connection to the server, or closes it if
// that server or the port has closed.
func (r *routedListener) deliver(conn net.Conn) {
	_ = conn.SetDeadline(time.Time{})
	select {
	case r.connections <- conn:
	case <-r.closed:
		conn.Close()
	case <-r.parent.closed:
		conn.Close()
	}
}

func (r *routedListener) Accept() (net.Conn, error) {
	select {
	case conn := <-r.connections:
		return conn, nil
	case <-r.closed:
		return nil, net.ErrClosed
	case <-r.parent.closed:
		return nil, net.ErrClosed
	}
}

func (r *routedListener) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

func (r *routedListener) Addr() net.Addr { return r.parent.listener.Addr() }

// prefixedConn is a connection whose first bytes were read to classify it:
// reads return them first, then read the connection itself. Only the
// serving goroutine that reads the connection calls Read.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
