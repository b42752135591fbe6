package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// These tests reach the proxy from distinct loopback source addresses
// (127.0.0.2 is member "a", 127.0.0.3 is "b", anything else unknown), so
// the identifier is exact without /proc.

const (
	// patience bounds waits for something that must happen.
	patience = 10 * time.Second
	// quiet is how long a test watches for bytes that must not arrive: a
	// correct proxy never delivers them, so a slow machine cannot fail it.
	quiet = 200 * time.Millisecond
)

func identifyByAddress(remote, _ net.Addr) string {
	switch remote.(*net.TCPAddr).IP.String() {
	case "127.0.0.2":
		return "a"
	case "127.0.0.3":
		return "b"
	}
	return UnknownSource
}

// echoServer echoes every chunk and reports it on received.
type echoServer struct {
	listener net.Listener
	received chan string
}

func startEchoServer(t *testing.T) *echoServer {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &echoServer{listener: listener, received: make(chan string, 100)}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			connection, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer connection.Close()
				buffer := make([]byte, 1024)
				for {
					count, err := connection.Read(buffer)
					if err != nil {
						return
					}
					server.received <- string(buffer[:count])
					if _, err := connection.Write(buffer[:count]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return server
}

// startServerBehindProxy starts an echo server and a proxy in front of it.
func startServerBehindProxy(t *testing.T) (*echoServer, *Proxy) {
	t.Helper()
	server := startEchoServer(t)
	proxy, err := New("127.0.0.1:0", server.listener.Addr().String(), identifyByAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return server, proxy
}

// roundTrip sends message and expects the server to get it and the echo
// to come back.
func roundTrip(t *testing.T, server *echoServer, connection net.Conn, message string) {
	t.Helper()
	send(t, connection, message)
	expectReceived(t, server, message)
	expectEcho(t, connection, message)
}

func dialFrom(t *testing.T, sourceIP string, proxy *Proxy) net.Conn {
	t.Helper()
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(sourceIP)}, Timeout: patience}
	connection, err := dialer.Dial("tcp", proxy.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { connection.Close() })
	return connection
}

func send(t *testing.T, connection net.Conn, message string) {
	t.Helper()
	if _, err := connection.Write([]byte(message)); err != nil {
		t.Fatal(err)
	}
}

func expectEcho(t *testing.T, connection net.Conn, message string) {
	t.Helper()
	connection.SetReadDeadline(time.Now().Add(patience))
	buffer := make([]byte, len(message))
	if _, err := io.ReadFull(connection, buffer); err != nil {
		t.Fatalf("reading the echo of %q: %v", message, err)
	}
	if string(buffer) != message {
		t.Fatalf("echo = %q, want %q", buffer, message)
	}
}

func expectSilence(t *testing.T, connection net.Conn) {
	t.Helper()
	connection.SetReadDeadline(time.Now().Add(quiet))
	buffer := make([]byte, 64)
	count, err := connection.Read(buffer)
	var timeout net.Error
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("read %q, %v; want nothing until the deadline", buffer[:count], err)
	}
}

func expectClosed(t *testing.T, connection net.Conn) {
	t.Helper()
	connection.SetReadDeadline(time.Now().Add(patience))
	_, err := connection.Read(make([]byte, 64))
	var timeout net.Error
	if err == nil || (errors.As(err, &timeout) && timeout.Timeout()) {
		t.Fatalf("connection still open (read error %v)", err)
	}
}

func expectReceived(t *testing.T, server *echoServer, message string) {
	t.Helper()
	select {
	case got := <-server.received:
		if got != message {
			t.Fatalf("server received %q, want %q", got, message)
		}
	case <-time.After(patience):
		t.Fatalf("server never received %q", message)
	}
}

func expectNothingReceived(t *testing.T, server *echoServer) {
	t.Helper()
	select {
	case got := <-server.received:
		t.Fatalf("server received %q through a stalled link", got)
	case <-time.After(quiet):
	}
}

func TestForwardsBothWays(t *testing.T) {
	server, proxy := startServerBehindProxy(t)
	connection := dialFrom(t, "127.0.0.2", proxy)
	roundTrip(t, server, connection, "hello")
}

func TestInboundStallBlocksOneSourceUntilHealed(t *testing.T) {
	server, proxy := startServerBehindProxy(t)
	fromA, fromB := dialFrom(t, "127.0.0.2", proxy), dialFrom(t, "127.0.0.3", proxy)
	roundTrip(t, server, fromA, "warm")

	proxy.SetRule("a", Inbound, Stall)
	send(t, fromA, "held")
	expectNothingReceived(t, server)
	expectSilence(t, fromA)

	roundTrip(t, server, fromB, "free")

	proxy.Heal()
	expectReceived(t, server, "held")
	expectEcho(t, fromA, "held")
}

func TestOutboundStallIsOneWay(t *testing.T) {
	server, proxy := startServerBehindProxy(t)
	connection := dialFrom(t, "127.0.0.2", proxy)
	proxy.SetRule("a", Outbound, Stall)
	send(t, connection, "ping")
	expectReceived(t, server, "ping")
	expectSilence(t, connection)
	proxy.SetRule("a", Outbound, Pass)
	expectEcho(t, connection, "ping")
}

func TestRefuseClosesAndRejectsUntilHealed(t *testing.T) {
	server, proxy := startServerBehindProxy(t)
	fromA, fromB := dialFrom(t, "127.0.0.2", proxy), dialFrom(t, "127.0.0.3", proxy)
	roundTrip(t, server, fromA, "one")

	proxy.SetRule("a", Inbound, Refuse)
	expectClosed(t, fromA)
	expectClosed(t, dialFrom(t, "127.0.0.2", proxy))
	roundTrip(t, server, fromB, "two")

	proxy.Heal()
	again := dialFrom(t, "127.0.0.2", proxy)
	roundTrip(t, server, again, "three")
}

func TestUnknownSourceFailsClosed(t *testing.T) {
	server, proxy := startServerBehindProxy(t)
	unknown := dialFrom(t, "127.0.0.4", proxy)
	proxy.SetRule("b", Inbound, Stall)
	send(t, unknown, "x")
	expectNothingReceived(t, server)
	if mode := proxy.Rule(UnknownSource, Inbound); mode != Stall {
		t.Fatalf("unknown source rule = %s, want stall", mode)
	}
	proxy.Heal()
	expectReceived(t, server, "x")
}

func TestCloseEndsConnections(t *testing.T) {
	_, proxy := startServerBehindProxy(t)
	connection := dialFrom(t, "127.0.0.2", proxy)
	proxy.SetRule("a", Inbound, Stall)
	if err := proxy.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, connection)
	if err := proxy.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestProcessIdentifierFindsTheDialingProcess(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp on this system")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	client, err := net.Dial("tcp", listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	accepted, err := listener.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()

	identify := ProcessIdentifier(func() map[int]string { return map[int]string{os.Getpid(): "self"} })
	if name := identify(accepted.RemoteAddr(), accepted.LocalAddr()); name != "self" {
		t.Fatalf("identified %q, want self", name)
	}
	nobody := ProcessIdentifier(func() map[int]string { return map[int]string{} })
	if name := nobody(accepted.RemoteAddr(), accepted.LocalAddr()); name != UnknownSource {
		t.Fatalf("identified %q with no processes, want unknown", name)
	}
}
