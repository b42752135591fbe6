package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// One port serves two protocols: gRPC (the snapshot stream, FetchInfo, and
// the message stream of members that predate direct connections) and the
// direct message connection (direct.go). The listener tells them apart per
// connection, before either protocol reads a byte: over TLS by the
// application protocol the client asked for (ALPN), in plaintext by the
// first bytes, which are directMagic on a direct connection and HTTP/2's
// preface ("PRI * HTTP/2.0...") on a gRPC one.

// classifyTimeout bounds the TLS handshake and the read of the first bytes
// of an accepted connection, so that a client that connects and says
// nothing holds a goroutine for that long at most.
const classifyTimeout = 10 * time.Second

// listenerBufferBytes is the read buffer of a direct connection: the peek
// that classifies it reads into it, and batches are read through it.
const listenerBufferBytes = 64 << 10

// peerListener accepts connections on the transport's port and routes
// each: direct message connections to serve, everything else to the gRPC
// server through grpcConnections (its net.Listener).
type peerListener struct {
	listener net.Listener
	// tls, if set, is the server configuration, with NextProtos naming
	// both protocols.
	tls *tls.Config
	// serve handles a direct connection; it runs on the connection's own
	// goroutine and owns the connection.
	serve func(conn net.Conn, reader *bufio.Reader)
	// group tracks the accept loop and every goroutine it starts.
	group  *sync.WaitGroup
	logger *slog.Logger

	grpcConnections chan net.Conn
	closed          chan struct{}
	closeOnce       sync.Once

	// routing holds the connections not yet handed to gRPC: those being
	// classified (a client that never finishes its handshake would
	// otherwise hold Stop up for classifyTimeout) and the direct
	// connections being served. close closes them.
	mu      sync.Mutex
	routing map[net.Conn]struct{}
}

func newPeerListener(listener net.Listener, serverTLS *tls.Config, serve func(net.Conn, *bufio.Reader), group *sync.WaitGroup, logger *slog.Logger) *peerListener {
	l := &peerListener{
		listener:        listener,
		serve:           serve,
		group:           group,
		logger:          logger,
		grpcConnections: make(chan net.Conn),
		closed:          make(chan struct{}),
		routing:         make(map[net.Conn]struct{}),
	}
	if serverTLS != nil {
		l.tls = withPeerProtocols(serverTLS)
	}
	return l
}

// peerProtocols are the application protocols the peer port offers in the
// TLS handshake (ALPN): direct connections, and HTTP/2 for gRPC, whose
// clients refuse a server that does not agree to it.
var peerProtocols = []string{directProtocol, "h2"}

// withPeerProtocols returns a copy of a server's TLS configuration that
// offers peerProtocols, including in the configurations its
// GetConfigForClient returns (the server's peer identity check makes one
// per connection), which the handshake would otherwise use without them.
func withPeerProtocols(serverTLS *tls.Config) *tls.Config {
	config := serverTLS.Clone()
	config.NextProtos = peerProtocols
	if perClient := config.GetConfigForClient; perClient != nil {
		config.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			chosen, err := perClient(hello)
			if err != nil || chosen == nil {
				return chosen, err // nil: the handshake uses config itself
			}
			chosen = chosen.Clone()
			chosen.NextProtos = peerProtocols
			return chosen, nil
		}
	}
	return config
}

// run accepts connections until the listener is closed.
func (l *peerListener) run() {
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
				l.logger.Error("the peer port stopped accepting connections", "error", err)
			}
			l.close()
			return
		}
		l.group.Go(func() { l.route(conn) })
	}
}

// route finishes the TLS handshake, if any, and hands the connection to
// the protocol it speaks. A connection that fails either step is closed.
func (l *peerListener) route(conn net.Conn) {
	if !l.hold(conn) {
		conn.Close()
		return
	}
	defer l.release(conn)
	setKeepalive(conn)
	setUserTimeout(conn)
	_ = conn.SetDeadline(time.Now().Add(classifyTimeout))
	if l.tls != nil {
		secure := tls.Server(conn, l.tls)
		if err := secure.Handshake(); err != nil {
			conn.Close()
			return
		}
		if secure.ConnectionState().NegotiatedProtocol == directProtocol {
			l.serve(secure, bufio.NewReaderSize(secure, listenerBufferBytes))
			return
		}
		l.toGRPC(secure)
		return
	}
	reader := bufio.NewReaderSize(conn, listenerBufferBytes)
	start, err := reader.Peek(len(directMagic))
	if err != nil && len(start) == 0 {
		conn.Close()
		return
	}
	if bytes.Equal(start, []byte(directMagic)) {
		_, _ = reader.Discard(len(directMagic))
		l.serve(conn, reader)
		return
	}
	l.toGRPC(&bufferedConn{Conn: conn, reader: reader})
}

// toGRPC hands a connection to the gRPC server, or closes it if the
// listener closes first.
func (l *peerListener) toGRPC(conn net.Conn) {
	_ = conn.SetDeadline(time.Time{})
	select {
	case l.grpcConnections <- conn:
	case <-l.closed:
		conn.Close()
	}
}

// hold records a connection being routed; false once the listener is
// closed.
func (l *peerListener) hold(conn net.Conn) bool {
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

func (l *peerListener) release(conn net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.routing, conn)
}

// close stops accepting and closes the connections it holds: those still
// being routed, and the direct connections, which route serves before it
// lets go of them. Connections handed to gRPC stay open (its server closes
// them).
func (l *peerListener) close() {
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

// grpcListener is the net.Listener the gRPC server serves: the
// connections the peer listener routed to it.
type grpcListener struct{ *peerListener }

func (g grpcListener) Accept() (net.Conn, error) {
	select {
	case conn := <-g.grpcConnections:
		return conn, nil
	case <-g.closed:
		return nil, net.ErrClosed
	}
}

func (g grpcListener) Close() error   { g.close(); return nil }
func (g grpcListener) Addr() net.Addr { return g.listener.Addr() }

// bufferedConn is a connection whose first bytes were read ahead into
// reader: reads take those first, then go to the connection itself, and
// the buffer is let go. Only gRPC's goroutine reading the connection calls
// Read.
type bufferedConn struct {
	net.Conn
	reader *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.reader != nil {
		if c.reader.Buffered() > 0 {
			return c.reader.Read(p)
		}
		c.reader = nil
	}
	return c.Conn.Read(p)
}

// setKeepalive turns on TCP keepalive probes on a peer connection, so that
// a connection to a machine that vanished (no reset ever arrives) fails
// within about keepaliveTime + 3 × keepaliveTimeout instead of hours later.
func setKeepalive(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetKeepAliveConfig(keepaliveConfig)
	}
}

var keepaliveConfig = net.KeepAliveConfig{Enable: true, Idle: keepaliveTime, Interval: keepaliveTimeout, Count: 3}
