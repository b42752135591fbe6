package server

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/lockstepdb/lockstep/raft"
)

// leaseService implements etcd's Lease service. Grants and revokes go
// through Raft; keep-alives and time-to-live questions are answered by the
// leader, which alone keeps expiry times (followers forward them).
type leaseService struct {
	pb.UnimplementedLeaseServer
	server *Server
}

func (l *leaseService) LeaseGrant(ctx context.Context, request *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	s := l.server
	// The quota first, as etcd checks it before the TTL (which it checks
	// only when it applies the grant).
	if err := s.checkQuota(ctx); err != nil {
		return nil, err
	}
	if request.TTL > maxLeaseTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	grant := &pb.LeaseGrantRequest{ID: request.ID, TTL: max(request.TTL, s.lessor.minTTL())}
	for attempt := 0; ; attempt++ {
		chosen := grant.ID == 0
		if chosen {
			grant.ID = newLeaseID()
		}
		response, err := proposeOrForward(s, ctx, &pb.InternalRaftRequest{LeaseGrant: grant},
			func(ctx context.Context, leader *leaderClients) (*pb.LeaseGrantResponse, error) {
				return leader.lease.LeaseGrant(ctx, grant)
			})
		if errors.Is(err, rpctypes.ErrGRPCLeaseExist) && chosen && attempt < 3 {
			grant.ID = 0 // our random pick collided: pick again
			continue
		}
		if err == nil {
			s.lessor.renew(grant.ID)
		}
		return response, err
	}
}

func (l *leaseService) LeaseRevoke(ctx context.Context, request *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	return proposeOrForward(l.server, ctx, &pb.InternalRaftRequest{LeaseRevoke: request},
		func(ctx context.Context, leader *leaderClients) (*pb.LeaseRevokeResponse, error) {
			return leader.lease.LeaseRevoke(ctx, request)
		})
}

func (l *leaseService) LeaseTimeToLive(ctx context.Context, request *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	s := l.server
	return onLeader(s, ctx, func(context.Context) (*pb.LeaseTimeToLiveResponse, error) {
		revision, _ := s.store.Revision()
		info, ok := s.store.Lease(request.ID)
		if !ok {
			// etcd answers an unknown lease with TTL -1, not an error.
			return &pb.LeaseTimeToLiveResponse{Header: s.header(revision), ID: request.ID, TTL: -1}, nil
		}
		response := &pb.LeaseTimeToLiveResponse{Header: s.header(revision), ID: request.ID, TTL: s.lessor.remaining(request.ID, info.TTL), GrantedTTL: info.TTL}
		if request.Keys {
			response.Keys = info.Keys
		}
		return response, nil
	}, func(ctx context.Context, leader *leaderClients) (*pb.LeaseTimeToLiveResponse, error) {
		return leader.lease.LeaseTimeToLive(ctx, request)
	})
}

func (l *leaseService) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	revision, _ := l.server.store.Revision()
	response := &pb.LeaseLeasesResponse{Header: l.server.header(revision)}
	for _, lease := range l.server.store.Leases() {
		response.Leases = append(response.Leases, &pb.LeaseStatus{ID: lease.ID})
	}
	return response, nil
}

// LeaseKeepAlive renews leases for as long as the client streams requests.
// A follower relays the stream to the leader.
func (l *leaseService) LeaseKeepAlive(stream grpc.BidiStreamingServer[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	s := l.server
	var relay pb.Lease_LeaseKeepAliveClient
	relayCtx, cancelRelay := context.WithCancel(outgoingForwarded(stream.Context()))
	defer cancelRelay()
	for {
		request, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		leader := raft.NodeID(s.leader.Load())
		revision, _ := s.store.Revision()
		if leader == s.id {
			ttl, _ := s.lessor.renew(request.ID) // 0 tells the client the lease is gone
			if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.header(revision), ID: request.ID, TTL: ttl}); err != nil {
				return err
			}
			continue
		}
		if leader == raft.None || isForwarded(stream.Context()) {
			return rpctypes.ErrGRPCNoLeader
		}
		if relay == nil {
			clients, err := s.forwarder.clients(stream.Context(), leader, false)
			if err != nil {
				return err
			}
			if relay, err = clients.lease.LeaseKeepAlive(relayCtx); err != nil {
				return rpctypes.ErrGRPCNoLeader
			}
		}
		response, err := relayKeepAlive(relay, request)
		if err != nil {
			// The leader may have changed: end the stream; the client
			// opens a new one, which relays to the new leader.
			return rpctypes.ErrGRPCNoLeader
		}
		s.fillHeader(response.Header, response.GetHeader().GetRevision())
		if err := stream.Send(response); err != nil {
			return err
		}
	}
}

func relayKeepAlive(relay pb.Lease_LeaseKeepAliveClient, request *pb.LeaseKeepAliveRequest) (*pb.LeaseKeepAliveResponse, error) {
	if err := relay.Send(request); err != nil {
		return nil, err
	}
	return relay.Recv()
}
