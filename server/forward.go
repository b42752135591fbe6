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

// forwarder keeps one gRPC connection per other member's client URL, over
// which a follower sends the leader the write requests it receives.
type forwarder struct {
	server *Server
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
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
	return &forwarder{server: s, conns: map[string]*grpc.ClientConn{}}
}

// clients returns clients of member id, once its client URLs are known (a
// member publishes them through the log when it starts); it waits for
// them up to ctx's deadline.
func (f *forwarder) clients(ctx context.Context, id raft.NodeID) (*leaderClients, error) {
	ticker := time.NewTicker(f.server.config.HeartbeatInterval)
	defer ticker.Stop()
	for {
		if attributes, ok := f.server.store.MemberAttributes()[uint64(id)]; ok && len(attributes.ClientURLs) > 0 {
			conn, err := f.conn(attributes.ClientURLs[0])
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

func (f *forwarder) conn(url string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if conn, ok := f.conns[url]; ok {
		return conn, nil
	}
	address, err := hostPort(url)
	if err != nil {
		return nil, fmt.Errorf("server: leader's client URL: %w", err)
	}
	transportCredentials := insecure.NewCredentials()
	if strings.HasPrefix(url, "https://") {
		transportCredentials = credentials.NewTLS(f.server.forwardTLS())
	}
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(transportCredentials),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(f.server.config.MaxRequestBytes+grpcOverheadBytes), grpc.MaxCallRecvMsgSize(maxSendBytes)),
		grpc.WithInitialWindowSize(streamWindowBytes), grpc.WithInitialConnWindowSize(connectionWindowBytes))
	if err != nil {
		return nil, fmt.Errorf("server: dial leader at %s: %w", url, err)
	}
	f.conns[url] = conn
	return conn, nil
}

func (f *forwarder) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for url, conn := range f.conns {
		conn.Close()
		delete(f.conns, url)
	}
}

// forwardTLS is the client TLS configuration a follower uses toward the
// leader: Config.ForwardTLS, or the client certificate and CA of
// Config.ClientTLS.
func (s *Server) forwardTLS() *tls.Config {
	if s.config.ForwardTLS != nil {
		return s.config.ForwardTLS.Clone()
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.config.ClientTLS != nil {
		config.Certificates = s.config.ClientTLS.Certificates
		config.RootCAs = s.config.ClientTLS.ClientCAs
	}
	return config
}
