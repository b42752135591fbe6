package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/protobuf/proto"
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
	encoded, err := proto.Marshal(request)
	if err != nil {
		return err
	}
	_, err = s.peers.Query(ctx, elsewhere.leader, publishQuery, encoded)
	return err
}

// publishQuery is the transport query with which a follower asks the
// leader to replicate its attributes, over the peer port: there it has
// the peers' protection (TLS, the allowed certificate names), where a call
// on the client port could be made by any client to change the client
// URLs a member is listed and forwarded to. Its request is a
// pb.InternalRaftRequest holding nothing but a ClusterMemberAttrSet; its
// answer is empty.
const publishQuery = "lockstep.server.Publish"

// answerPublish answers publishQuery (from the transport's goroutines).
func (s *Server) answerPublish(ctx context.Context, encoded []byte) ([]byte, error) {
	request := &pb.InternalRaftRequest{}
	if err := proto.Unmarshal(encoded, request); err != nil {
		return nil, fmt.Errorf("server: a malformed publish query: %w", err)
	}
	attributes := request.ClusterMemberAttrSet
	if attributes == nil || attributes.MemberAttributes == nil || attributes.Member_ID == 0 {
		return nil, errors.New("server: a publish query carries nothing but member attributes")
	}
	if !s.nodeStarted.Load() {
		return nil, errors.New("server: not the leader (still starting)")
	}
	if _, err := s.propose(ctx, &pb.InternalRaftRequest{ClusterMemberAttrSet: attributes}); err != nil {
		var elsewhere *leaderElsewhere
		if errors.As(err, &elsewhere) {
			return nil, errors.New("server: not the leader")
		}
		return nil, err
	}
	return nil, nil
}
