package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lockstepdb/lockstep/raft"
)

// forwarder keeps gRPC connections to other members' client URLs, over
// which a follower sends the leader the write requests it receives: one
// per URL presenting the client certificate of Config.ClientTLS (or
// Config.ForwardTLS), and, for calls whose user is their client
// certificate's, one presenting this member's peer certificate, which
// proves to the leader that the forwarded identity comes from a member
// (auth_certificate.go).
type forwarder struct {
	server *Server
	mu     sync.Mutex
	conns  map[connectionKey]*grpc.ClientConn
}

// connectionKey names a forwarding connection: the URL it dials, and
// whether it presents the peer certificate.
type connectionKey struct {
	url      string
	asMember bool
}

// leaderClients are the etcd API clients of one member.
type leaderClients struct {
	conn    *grpc.ClientConn
	kv      pb.KVClient
	lease   pb.LeaseClient
	cluster pb.ClusterClient
	maint   pb.MaintenanceClient
	auth    pb.AuthClient
}

func newForwarder(s *Server) *forwarder {
	return &forwarder{server: s, conns: map[connectionKey]*grpc.ClientConn{}}
}

// clients returns clients of member id, once its client URLs are known (a
// member publishes them through the log when it starts); it waits for
// them up to ctx's deadline. asMember picks the connection presenting the
// peer certificate.
func (f *forwarder) clients(ctx context.Context, id raft.NodeID, asMember bool) (*leaderClients, error) {
	ticker := time.NewTicker(f.server.config.HeartbeatInterval)
	defer ticker.Stop()
	for {
		if attributes, ok := f.server.store.MemberAttributes()[uint64(id)]; ok && len(attributes.ClientURLs) > 0 {
			conn, err := f.conn(connectionKey{url: attributes.ClientURLs[0], asMember: asMember})
			if err != nil {
				return nil, err
			}
			return &leaderClients{conn: conn, kv: pb.NewKVClient(conn), lease: pb.NewLeaseClient(conn),
				cluster: pb.NewClusterClient(conn), maint: pb.NewMaintenanceClient(conn), auth: pb.NewAuthClient(conn)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, rpctypes.ErrGRPCNoLeader
		case <-f.server.stopping:
			return nil, rpctypes.ErrGRPCStopped
		case <-ticker.C:
		}
	}
}

func (f *forwarder) conn(key connectionKey) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if conn, ok := f.conns[key]; ok {
		return conn, nil
	}
	url := key.url
	address, err := hostPort(url)
	if err != nil {
		return nil, fmt.Errorf("server: leader's client URL: %w", err)
	}
	transportCredentials := insecure.NewCredentials()
	switch {
	case strings.HasPrefix(url, "https://") && key.asMember:
		transportCredentials = credentials.NewTLS(f.server.memberForwardTLS())
	case strings.HasPrefix(url, "https://"):
		transportCredentials = credentials.NewTLS(f.server.forwardTLS())
	case key.asMember:
		// Without TLS there is no certificate to prove membership with.
		return nil, fmt.Errorf("server: the leader's client URL %s is not https: a forwarded certificate identity needs TLS", url)
	}
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(transportCredentials),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(f.server.config.MaxRequestBytes+grpcOverheadBytes), grpc.MaxCallRecvMsgSize(maxSendBytes)),
		grpc.WithInitialWindowSize(streamWindowBytes), grpc.WithInitialConnWindowSize(connectionWindowBytes))
	if err != nil {
		return nil, fmt.Errorf("server: dial leader at %s: %w", url, err)
	}
	f.conns[key] = conn
	return conn, nil
}

func (f *forwarder) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, conn := range f.conns {
		conn.Close()
		delete(f.conns, key)
	}
}

// forwardTLS is the client TLS configuration a follower uses toward the
// leader: Config.ForwardTLS, or the certificate of Config.ClientTLS, and
// its RootCAs (else its ClientCAs) to verify the leader's.
func (s *Server) forwardTLS() *tls.Config {
	if s.config.ForwardTLS != nil {
		return s.config.ForwardTLS.Clone()
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.config.ClientTLS != nil {
		config.Certificates = s.config.ClientTLS.Certificates
		config.RootCAs = s.config.ClientTLS.RootCAs
		if config.RootCAs == nil {
			config.RootCAs = s.config.ClientTLS.ClientCAs
		}
	}
	return config
}

// memberForwardTLS is forwardTLS presenting this member's peer
// certificate instead: always, whatever CAs the leader names as
// acceptable, so a leader whose client port does not trust the peer CA
// refuses the handshake with a reason instead of seeing no certificate.
func (s *Server) memberForwardTLS() *tls.Config {
	config := s.forwardTLS()
	peerCertificate := s.config.PeerTLS.Certificates[0]
	config.Certificates = nil
	config.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &peerCertificate, nil }
	return config
}
