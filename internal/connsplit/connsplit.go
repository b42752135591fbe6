// Package connsplit serves more than one protocol on one TCP port. A
// Router accepts each connection, makes its TLS handshake if the port
// speaks TLS, and hands it to a route function that tells the protocols
// apart (by the application protocol the handshake agreed on, or by the
// first bytes) before either protocol reads a byte. A Listener is the
// net.Listener through which a server (gRPC's, HTTP's) serves the
// connections routed to it. The peer port (package transport: gRPC and
// direct message connections) and the client port (package server: gRPC
// and HTTP) are both served this way.
package connsplit

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Options configure a Router.
type Options struct {
	// TLS, if set, is the port's server configuration: the Router makes
	// the handshake, offering Protocols (ALPN).
	TLS       *tls.Config
	Protocols []string
	// Timeout bounds the handshake and the route function's reading of
	// the first bytes: it is the connection's deadline when Route gets
	// it, until Route hands it on (Listener.Deliver clears it) or sets
	// its own. So a client that connects and says nothing holds a
	// goroutine that long at most.
	Timeout time.Duration
	// Prepare, if set, runs on each accepted connection first (socket
	// options).
	Prepare func(net.Conn)
	// Route takes each connection once its handshake, if any, is done
	// (a *tls.Conn then), with the protocol the handshake agreed on (""
	// without TLS or without agreement). It runs on the connection's own
	// goroutine and owns the connection: it may serve it right there,
	// and the Router closes it if the Router is closed meanwhile.
	Route func(conn net.Conn, protocol string)
	// Port names the port in the log ("peer", "client").
	Port   string
	Logger *slog.Logger
	// Group tracks the accept loop's goroutines (Run starts one per
	// connection).
	Group *sync.WaitGroup
}

// Router accepts the connections of one port and routes each.
type Router struct {
	listener net.Listener
	options  Options

	closed    chan struct{}
	closeOnce sync.Once
	// routing holds the connections Route has not returned from: those
	// being classified, and those it serves itself. Close closes them.
	mu      sync.Mutex
	routing map[net.Conn]struct{}
}

// New returns a Router for listener; Run starts it.
func New(listener net.Listener, options Options) *Router {
	if options.TLS != nil {
		options.TLS = WithProtocols(options.TLS, options.Protocols)
	}
	return &Router{listener: listener, options: options, closed: make(chan struct{}), routing: make(map[net.Conn]struct{})}
}

// WithProtocols returns a copy of a server's TLS configuration that
// offers protocols, also in the configurations its GetConfigForClient
// returns (which the handshake would otherwise use without them).
func WithProtocols(serverTLS *tls.Config, protocols []string) *tls.Config {
	config := serverTLS.Clone()
	config.NextProtos = protocols
	if perClient := config.GetConfigForClient; perClient != nil {
		config.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			chosen, err := perClient(hello)
			if err != nil || chosen == nil {
				return chosen, err // nil: the handshake uses config itself
			}
			chosen = chosen.Clone()
			chosen.NextProtos = protocols
			return chosen, nil
		}
	}
	return config
}

// Run accepts connections until the listener is closed; each is routed on
// a goroutine of its own (in Options.Group).
func (r *Router) Run() {
	for {
		conn, err := r.listener.Accept()
		if err != nil {
			var temporary interface{ Temporary() bool }
			if errors.As(err, &temporary) && temporary.Temporary() {
				select {
				case <-r.closed:
					return
				case <-time.After(5 * time.Millisecond):
				}
				continue
			}
			select {
			case <-r.closed:
			default:
				r.options.Logger.Error("the "+r.options.Port+" port stopped accepting connections",
					"address", r.listener.Addr().String(), "error", err)
			}
			r.Close()
			return
		}
		r.options.Group.Go(func() { r.route(conn) })
	}
}

// route makes the handshake, if any, and calls Route. A connection whose
// handshake fails is closed.
func (r *Router) route(conn net.Conn) {
	if !r.hold(conn) {
		conn.Close()
		return
	}
	defer r.release(conn)
	if r.options.Prepare != nil {
		r.options.Prepare(conn)
	}
	_ = conn.SetDeadline(time.Now().Add(r.options.Timeout))
	if r.options.TLS == nil {
		r.options.Route(conn, "")
		return
	}
	secure := tls.Server(conn, r.options.TLS)
	if err := secure.Handshake(); err != nil {
		r.options.Logger.Debug("a TLS handshake failed", "port", r.options.Port, "remote", conn.RemoteAddr().String(), "error", err)
		conn.Close()
		return
	}
	r.options.Route(secure, secure.ConnectionState().NegotiatedProtocol)
}

// hold records a connection being routed; false once the Router is closed.
func (r *Router) hold(conn net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.closed:
		return false
	default:
	}
	r.routing[conn] = struct{}{}
	return true
}

func (r *Router) release(conn net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routing, conn)
}

// Close stops accepting and closes the connections Route still holds;
// those it handed to a Listener belong to that Listener's server. Safe
// to call more than once.
func (r *Router) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		close(r.closed)
		for conn := range r.routing {
			conn.Close()
		}
		r.mu.Unlock()
		r.listener.Close()
	})
}

// Addr is the port's address.
func (r *Router) Addr() net.Addr { return r.listener.Addr() }

// NewListener returns a Listener on the Router's port, for one server.
func (r *Router) NewListener() *Listener {
	return &Listener{router: r, connections: make(chan net.Conn), closed: make(chan struct{})}
}

// Listener is the net.Listener one server serves: the connections Route
// delivers to it. Closing it (which the server does when it stops) closes
// only this view; the port closes with the Router.
type Listener struct {
	router      *Router
	connections chan net.Conn
	closed      chan struct{}
	closeOnce   sync.Once
}

// Deliver hands a routed connection to the server, its deadline cleared,
// or closes it if the server or the Router has closed. Route calls it.
func (l *Listener) Deliver(conn net.Conn) {
	_ = conn.SetDeadline(time.Time{})
	select {
	case l.connections <- conn:
	case <-l.closed:
		conn.Close()
	case <-l.router.closed:
		conn.Close()
	}
}

// Accept returns the next delivered connection, or net.ErrClosed once the
// Listener or its Router has closed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.connections:
		return conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.router.closed:
		return nil, net.ErrClosed
	}
}

// Close closes this Listener only.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr is the port's address.
func (l *Listener) Addr() net.Addr { return l.router.listener.Addr() }
