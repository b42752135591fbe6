package connsplit

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// startRouter routes the connections of a fresh loopback port: those whose
// first byte is 'a' (in plaintext) or that agree on "a" (over TLS) to the
// first Listener, the others to the second.
func startRouter(t *testing.T, serverTLS *tls.Config) (*Router, *Listener, *Listener, *sync.WaitGroup) {
	t.Helper()
	bound, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var group sync.WaitGroup
	var first, second *Listener
	router := New(bound, Options{TLS: serverTLS, Protocols: []string{"a", "b"}, Timeout: 5 * time.Second, Port: "test",
		Logger: slog.New(slog.DiscardHandler), Group: &group,
		Route: func(conn net.Conn, protocol string) {
			if _, secure := conn.(*tls.Conn); secure {
				if protocol == "a" {
					first.Deliver(conn)
				} else {
					second.Deliver(conn)
				}
				return
			}
			start := make([]byte, 1)
			if _, err := io.ReadFull(conn, start); err != nil {
				conn.Close()
				return
			}
			if start[0] == 'a' {
				first.Deliver(conn)
			} else {
				second.Deliver(conn)
			}
		}})
	first, second = router.NewListener(), router.NewListener()
	group.Go(router.Run)
	t.Cleanup(func() { router.Close(); group.Wait() })
	return router, first, second, &group
}

// accept returns the next connection of listener, failing the test if
// none comes.
func accept(t *testing.T, listener *Listener) net.Conn {
	t.Helper()
	conn, err := listener.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return conn
}

func TestRouterSplitsPlaintextByFirstBytes(t *testing.T) {
	router, first, second, _ := startRouter(t, nil)
	for _, each := range []struct {
		start string
		to    *Listener
	}{{"a-first", first}, {"b-second", second}, {"a-again", first}} {
		client, err := net.Dial("tcp", router.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if _, err := client.Write([]byte(each.start)); err != nil {
			t.Fatal(err)
		}
		served := accept(t, each.to)
		defer served.Close()
		// The route read the first byte; the rest is the server's.
		rest := make([]byte, len(each.start)-1)
		if _, err := io.ReadFull(served, rest); err != nil || string(rest) != each.start[1:] {
			t.Errorf("%s: the server read %q, %v", each.start, rest, err)
		}
	}
}

func TestRouterSplitsTLSByProtocol(t *testing.T) {
	ca := testpki.NewAuthority(t, "connsplit test CA")
	router, first, second, _ := startRouter(t, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "server")}, MinVersion: tls.VersionTLS12})
	for _, each := range []struct {
		protocol string
		to       *Listener
	}{{"a", first}, {"b", second}} {
		client, err := tls.Dial("tcp", router.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", NextProtos: []string{each.protocol}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("%s: %v", each.protocol, err)
		}
		defer client.Close()
		served := accept(t, each.to)
		defer served.Close()
		if got := served.(*tls.Conn).ConnectionState().NegotiatedProtocol; got != each.protocol {
			t.Errorf("delivered with %q, want %q", got, each.protocol)
		}
	}
}

// Closing one Listener leaves the port and the other Listener serving;
// closing the Router closes the port, the connections still being
// classified, and every Listener.
func TestRouterAndListenersClose(t *testing.T) {
	router, first, second, _ := startRouter(t, nil)
	first.Close()
	if _, err := first.Accept(); err != net.ErrClosed {
		t.Errorf("Accept on a closed Listener: %v", err)
	}
	refused, err := net.Dial("tcp", router.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.Write([]byte("a"))
	if _, err := refused.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a connection routed to a closed Listener read %v, want EOF", err)
	}
	client, err := net.Dial("tcp", router.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.Write([]byte("b"))
	accept(t, second).Close()

	silent, err := net.Dial("tcp", router.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// The silent connection is being classified until the Router closes;
	// the Router's Close closes it, whenever its goroutine got to it.
	router.Close()
	// EOF once accepted; a reset if the port closed with it still queued.
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a connection being classified read %v after Close, want it closed", err)
	}
	if _, err := second.Accept(); err != net.ErrClosed {
		t.Errorf("Accept after the Router closed: %v", err)
	}
}
