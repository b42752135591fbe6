package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// handshakenCredentials are the client gRPC server's transport credentials
// when the client port speaks TLS: the client listener (client_listener.go)
// has already made the handshake, so the gRPC server takes the
// connection as it is and reports what the handshake established, as
// gRPC's own TLS credentials would (credentials.TLSInfo, which the
// certificate checks read: auth_certificate.go). The other connections it
// serves are the JSON gateway's in-process ones (client_gateway.go),
// which carry no certificate and so no identity but a token.
type handshakenCredentials struct{}

// inProcessInfo is the AuthInfo of a connection made inside this process.
type inProcessInfo struct{ credentials.CommonAuthInfo }

func (inProcessInfo) AuthType() string { return "in-process" }

func (handshakenCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if secure, ok := conn.(*tls.Conn); ok {
		return conn, credentials.TLSInfo{State: secure.ConnectionState(),
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	if _, ok := conn.(*inProcessConn); ok {
		return conn, inProcessInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	// Not reachable: the client listener hands gRPC only TLS connections
	// when the port speaks TLS. Refuse rather than serve it in the clear.
	conn.Close()
	return nil, nil, errors.New("server: a plaintext connection reached a TLS client port's gRPC server")
}

func (handshakenCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("server: handshakenCredentials are for serving only")
}

func (handshakenCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c handshakenCredentials) Clone() credentials.TransportCredentials { return c }

func (handshakenCredentials) OverrideServerName(string) error { return nil }
