package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/internal/connsplit"
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

// peerListener routes the connections of the transport's port: direct
// message connections to serve, everything else to the gRPC server
// through grpc (its net.Listener).
type peerListener struct {
	router *connsplit.Router
	grpc   *connsplit.Listener
	// serve handles a direct connection; it runs on the connection's own
	// goroutine and owns the connection (the router closes it if it
	// closes first).
	serve func(conn net.Conn, reader *bufio.Reader)
}

func newPeerListener(listener net.Listener, serverTLS *tls.Config, serve func(net.Conn, *bufio.Reader), group *sync.WaitGroup, logger *slog.Logger) *peerListener {
	l := &peerListener{serve: serve}
	l.router = connsplit.New(listener, connsplit.Options{TLS: serverTLS, Protocols: peerProtocols, Timeout: classifyTimeout,
		Prepare: func(conn net.Conn) { setKeepalive(conn); setUserTimeout(conn) },
		Route:   l.route, Port: "peer", Logger: logger, Group: group})
	l.grpc = l.router.NewListener()
	return l
}

// peerProtocols are the application protocols the peer port offers in the
// TLS handshake (ALPN): direct connections, and HTTP/2 for gRPC, whose
// clients refuse a server that does not agree to it.
var peerProtocols = []string{directProtocol, "h2"}

// route hands a connection to the protocol it speaks: over TLS by the
// protocol the handshake agreed on, in plaintext by its first bytes.
func (l *peerListener) route(conn net.Conn, protocol string) {
	if _, secure := conn.(*tls.Conn); secure {
		if protocol == directProtocol {
			l.serve(conn, bufio.NewReaderSize(conn, listenerBufferBytes))
			return
		}
		l.grpc.Deliver(conn)
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
	l.grpc.Deliver(&bufferedConn{Conn: conn, reader: reader})
}

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
