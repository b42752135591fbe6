//go:build !linux

package transport

import "net"

// setUserTimeout is a no-op where TCP_USER_TIMEOUT is not available; see
// user_timeout_linux.go.
func setUserTimeout(net.Conn) {}
