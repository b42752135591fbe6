package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// publishAttributes replicates this member's name and client URLs, so
// every member can list it (MemberList) and forward requests to it when
// it leads. It retries until it succeeds or the server stops.
func (s *Server) publishAttributes() {
	request := &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID:        uint64(s.id),
		MemberAttributes: &membershippb.Attributes{Name: s.config.Name, ClientUrls: s.config.AdvertiseClientURLs},
	}}
	for {
		if attributes, ok := s.store.MemberAttributes()[uint64(s.id)]; ok && attributes.Name == s.config.Name &&
			sameURLs(attributes.ClientURLs, s.config.AdvertiseClientURLs) {
			return // already published by an earlier run
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
		err := s.publishOnce(ctx, request)
		cancel()
		if err == nil {
			s.log.Info("published member attributes", "client", s.config.AdvertiseClientURLs)
			return
		}
		select {
		case <-s.stopping:
			return
		case <-time.After(s.config.ElectionTimeout / 2):
		}
	}
}

func (s *Server) publishOnce(ctx context.Context, request *pb.InternalRaftRequest) error {
	if err := s.waitForLeader(ctx); err != nil {
		return err
	}
	_, err := s.propose(ctx, request)
	var elsewhere *leaderElsewhere
	if !errors.As(err, &elsewhere) {
		return err
	}
	clients, err := s.forwarder.clients(ctx, elsewhere.leader, false)
	if err != nil {
		return err
	}
	return clients.conn.Invoke(outgoingForwarded(ctx), publishMethod, request, &pb.ResponseHeader{})
}

// The internal Publish RPC, served next to the etcd API on the client
// port: a follower asks the leader to replicate its attributes. It accepts
// nothing but ClusterMemberAttrSet.
const (
	internalServiceName = "lockstep.server.Internal"
	publishMethod       = "/" + internalServiceName + "/Publish"
)

func (s *Server) registerInternal(registrar grpc.ServiceRegistrar) {
	registrar.RegisterService(&grpc.ServiceDesc{
		ServiceName: internalServiceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Publish", Handler: func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			request := &pb.InternalRaftRequest{}
			if err := decode(request); err != nil {
				return nil, err
			}
			attributes := request.ClusterMemberAttrSet
			if attributes == nil || attributes.MemberAttributes == nil || attributes.Member_ID == 0 {
				return nil, status.Error(codes.InvalidArgument, "lockstep: Publish accepts only member attributes")
			}
			if _, err := s.propose(ctx, &pb.InternalRaftRequest{ClusterMemberAttrSet: attributes}); err != nil {
				var elsewhere *leaderElsewhere
				if errors.As(err, &elsewhere) {
					return nil, status.Error(codes.Unavailable, "lockstep: not the leader")
				}
				return nil, err
			}
			return &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: uint64(s.id)}, nil
		}}},
	}, s)
}
