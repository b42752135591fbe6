package server

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/internal/connsplit"
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

// clientListener splits one client port between the gRPC server and the
// HTTP server, through their own net.Listener (grpc, http).
type clientListener struct {
	router     *connsplit.Router
	grpc, http *connsplit.Listener
	// grpcOnly closes HTTP connections instead (--listen-client-http-urls
	// moves HTTP to ports of its own, as etcd does).
	grpcOnly bool
}

// newClientListener routes listener's connections; timeout bounds each
// one's handshake and first bytes (clientClassifyTimeout). With grpcOnly
// it serves gRPC alone. Its router runs once started (router.Run, on a
// goroutine in group).
func newClientListener(listener net.Listener, serverTLS *tls.Config, grpcOnly bool, timeout time.Duration, group *sync.WaitGroup, logger *slog.Logger) *clientListener {
	l := &clientListener{grpcOnly: grpcOnly}
	protocols := clientProtocols
	if grpcOnly {
		protocols = clientProtocols[:1]
	}
	l.router = connsplit.New(listener, connsplit.Options{TLS: serverTLS, Protocols: protocols, Timeout: timeout,
		Route: l.route, Port: "client", Logger: logger, Group: group})
	l.grpc, l.http = l.router.NewListener(), l.router.NewListener()
	return l
}

// route hands a connection to gRPC or HTTP: over TLS by the protocol the
// handshake agreed on, in plaintext by its first bytes. A connection that
// closes or says nothing before its deadline is closed, and so is an HTTP
// one on a port that serves gRPC alone.
func (l *clientListener) route(conn net.Conn, protocol string) {
	if _, secure := conn.(*tls.Conn); secure {
		switch {
		case protocol == "h2":
			l.grpc.Deliver(conn)
		case l.grpcOnly:
			conn.Close()
		default:
			l.http.Deliver(conn)
		}
		return
	}
	start := make([]byte, len(http2PrefacePrefix))
	if _, err := io.ReadFull(conn, start); err != nil {
		conn.Close()
		return
	}
	routed := &prefixedConn{Conn: conn, prefix: start}
	switch {
	case string(start) == http2PrefacePrefix:
		l.grpc.Deliver(routed)
	case l.grpcOnly:
		conn.Close()
	default:
		l.http.Deliver(routed)
	}
}

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
