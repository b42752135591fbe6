package transport

import (
	"net"

	"golang.org/x/sys/unix"
)

// setUserTimeout bounds how long data written to a peer connection may go
// unacknowledged before the kernel ends the connection (TCP_USER_TIMEOUT),
// as gRPC does on its own connections. Keepalive probes find a peer that
// vanished only while nothing is in flight, and a leader always has
// heartbeats in flight: without it a connection to a machine that lost
// power, or behind a partition that drops packets, would look open until
// TCP stopped retransmitting, about 15 minutes later. Best effort: a
// connection that is not TCP, or a kernel that refuses, keeps the default.
func setUserTimeout(conn net.Conn) {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds()))
	})
}
