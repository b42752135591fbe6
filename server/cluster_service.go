package server

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// clusterService implements etcd's Cluster service: members are Raft
// members; adding one adds a learner (promoted at once unless the request
// asks for a learner), removing one is a Raft membership change.
type clusterService struct {
	pb.UnimplementedClusterServer
	server *Server
}

// members lists the membership in effect on this member, with peer URLs
// from the replicated address book and names and client URLs from the
// attributes each member publishes when it starts.
func (s *Server) members(ctx context.Context) ([]*pb.Member, error) {
	status, err := s.node.Status(ctx)
	if err != nil {
		return nil, s.clientError(ctx, err)
	}
	addresses, err := s.node.PeerAddresses(ctx)
	if err != nil {
		return nil, s.clientError(ctx, err)
	}
	attributes := s.store.MemberAttributes()
	var members []*pb.Member
	add := func(id raft.NodeID, learner bool) {
		member := &pb.Member{ID: uint64(id), IsLearner: learner}
		if urls := addresses[id]; urls != "" {
			member.PeerURLs = strings.Split(urls, ",")
		}
		if attribute, ok := attributes[uint64(id)]; ok {
			member.Name, member.ClientURLs = attribute.Name, attribute.ClientURLs
		}
		members = append(members, member)
	}
	seen := map[raft.NodeID]bool{}
	for _, id := range append(slices.Clone(status.Membership.Voters), status.Membership.OutgoingVoters...) {
		if !seen[id] {
			seen[id] = true
			add(id, false)
		}
	}
	for _, id := range status.Membership.Learners {
		if !seen[id] {
			seen[id] = true
			add(id, true)
		}
	}
	slices.SortFunc(members, func(a, b *pb.Member) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return members, nil
}

func (c *clusterService) MemberList(ctx context.Context, request *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	s := c.server
	if request.Linearizable {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	members, err := s.members(ctx)
	if err != nil {
		return nil, err
	}
	revision, _ := s.store.Revision()
	return &pb.MemberListResponse{Header: s.header(revision), Members: members}, nil
}

// onLeader runs a membership RPC on the leader: here if this member
// leads, else by forwarding the call.
func onLeader[Response interface{ GetHeader() *pb.ResponseHeader }](s *Server, ctx context.Context,
	local func(context.Context) (Response, error), forward func(context.Context, *leaderClients) (Response, error)) (Response, error) {
	var zero Response
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout()+s.config.ElectionTimeout*4)
	defer cancel()
	if err := s.waitForLeader(ctx); err != nil {
		return zero, err
	}
	leader := raft.NodeID(s.leader.Load())
	if leader == s.id {
		return local(ctx)
	}
	if isForwarded(ctx) {
		return zero, rpctypes.ErrGRPCNotLeader
	}
	outgoing, clients, err := s.forwardingContext(ctx, leader)
	if err != nil {
		return zero, err
	}
	response, err := forward(outgoing, clients)
	if err == nil {
		s.fillHeader(response.GetHeader(), response.GetHeader().GetRevision())
	}
	return response, err
}

func (c *clusterService) MemberAdd(ctx context.Context, request *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	s := c.server
	for _, raw := range request.PeerURLs {
		if _, err := hostPort(raw); err != nil {
			return nil, rpctypes.ErrGRPCMemberBadURLs
		}
	}
	if len(request.PeerURLs) == 0 {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	return onLeader(s, ctx, func(ctx context.Context) (*pb.MemberAddResponse, error) {
		members, err := s.members(ctx)
		if err != nil {
			return nil, err
		}
		for _, member := range members {
			for _, existing := range member.PeerURLs {
				if slices.Contains(request.PeerURLs, existing) {
					return nil, rpctypes.ErrGRPCPeerURLExist
				}
			}
		}
		id := memberID(request.PeerURLs, s.config.InitialClusterToken, time.Now())
		add := s.node.AddVoter
		if request.IsLearner {
			add = s.node.AddLearner
		}
		// A voter joins as a learner too and votes once it has caught up
		// (the leader promotes it): an empty log never counts toward a
		// quorum, which etcd's immediate voters do.
		if err := add(ctx, id, strings.Join(request.PeerURLs, ",")); err != nil {
			return nil, s.membershipError(ctx, err)
		}
		members, err = s.members(ctx)
		if err != nil {
			return nil, err
		}
		revision, _ := s.store.Revision()
		added := &pb.Member{ID: uint64(id), PeerURLs: request.PeerURLs, IsLearner: request.IsLearner}
		return &pb.MemberAddResponse{Header: s.header(revision), Member: added, Members: members}, nil
	}, func(ctx context.Context, leader *leaderClients) (*pb.MemberAddResponse, error) {
		return leader.cluster.MemberAdd(ctx, request)
	})
}

// findMember returns the member with id, or ErrGRPCMemberNotFound.
func (s *Server) findMember(ctx context.Context, id uint64) (*pb.Member, error) {
	members, err := s.members(ctx)
	if err != nil {
		return nil, err
	}
	for _, member := range members {
		if member.ID == id {
			return member, nil
		}
	}
	return nil, rpctypes.ErrGRPCMemberNotFound
}

func (c *clusterService) MemberRemove(ctx context.Context, request *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	s := c.server
	return onLeader(s, ctx, func(ctx context.Context) (*pb.MemberRemoveResponse, error) {
		if _, err := s.findMember(ctx, request.ID); err != nil {
			return nil, err
		}
		if err := s.node.Remove(ctx, raft.NodeID(request.ID)); err != nil {
			return nil, s.membershipError(ctx, err)
		}
		members, err := s.members(ctx)
		if err != nil {
			return nil, err
		}
		revision, _ := s.store.Revision()
		return &pb.MemberRemoveResponse{Header: s.header(revision), Members: members}, nil
	}, func(ctx context.Context, leader *leaderClients) (*pb.MemberRemoveResponse, error) {
		return leader.cluster.MemberRemove(ctx, request)
	})
}

func (c *clusterService) MemberUpdate(ctx context.Context, request *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	s := c.server
	if len(request.PeerURLs) == 0 {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	for _, raw := range request.PeerURLs {
		if _, err := hostPort(raw); err != nil {
			return nil, rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return onLeader(s, ctx, func(ctx context.Context) (*pb.MemberUpdateResponse, error) {
		if _, err := s.findMember(ctx, request.ID); err != nil {
			return nil, err
		}
		if err := s.node.UpdateAddress(ctx, raft.NodeID(request.ID), strings.Join(request.PeerURLs, ",")); err != nil {
			return nil, s.membershipError(ctx, err)
		}
		members, err := s.members(ctx)
		if err != nil {
			return nil, err
		}
		revision, _ := s.store.Revision()
		return &pb.MemberUpdateResponse{Header: s.header(revision), Members: members}, nil
	}, func(ctx context.Context, leader *leaderClients) (*pb.MemberUpdateResponse, error) {
		return leader.cluster.MemberUpdate(ctx, request)
	})
}

// learnerReadyFraction: a learner is promoted only once its log holds this
// share of the leader's (etcd's rule), so the new voter does not stall
// commits while it catches up.
const learnerReadyFraction = 0.9

func (c *clusterService) MemberPromote(ctx context.Context, request *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	s := c.server
	return onLeader(s, ctx, func(ctx context.Context) (*pb.MemberPromoteResponse, error) {
		member, err := s.findMember(ctx, request.ID)
		if err != nil {
			return nil, err
		}
		if !member.IsLearner {
			return nil, rpctypes.ErrGRPCMemberNotLearner
		}
		status, err := s.node.Status(ctx)
		if err != nil {
			return nil, s.clientError(ctx, err)
		}
		if progress, ok := status.Followers[raft.NodeID(request.ID)]; !ok || float64(progress.Match) < learnerReadyFraction*float64(status.LastIndex) {
			return nil, rpctypes.ErrGRPCLearnerNotReady
		}
		if err := s.node.Promote(ctx, raft.NodeID(request.ID)); errors.Is(err, raft.ErrLearnerBehind) {
			// The check above counts 90% of the log, as etcd's; the
			// core wants every committed entry, and the learner's
			// acknowledgements may trail by one: etcd's retryable
			// error, not a refused change.
			return nil, rpctypes.ErrGRPCLearnerNotReady
		} else if err != nil {
			return nil, s.membershipError(ctx, err)
		}
		members, err := s.members(ctx)
		if err != nil {
			return nil, err
		}
		revision, _ := s.store.Revision()
		return &pb.MemberPromoteResponse{Header: s.header(revision), Members: members}, nil
	}, func(ctx context.Context, leader *leaderClients) (*pb.MemberPromoteResponse, error) {
		return leader.cluster.MemberPromote(ctx, request)
	})
}

// membershipError maps a failed membership change to etcd's errors.
func (s *Server) membershipError(ctx context.Context, err error) error {
	if errors.Is(err, raft.ErrInvalidMembershipChange) {
		return status.Error(codes.FailedPrecondition, "etcdserver: "+err.Error())
	}
	return s.clientError(ctx, err)
}
