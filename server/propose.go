package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// requestTimeout bounds one proposal, as etcd bounds it (5 s plus time for
// an election), whatever deadline the client gave.
func (s *Server) requestTimeout() time.Duration { return 5*time.Second + 2*s.config.ElectionTimeout }

// leaderElsewhere is propose's answer on a member that is not the leader:
// the request must be forwarded to leader.
type leaderElsewhere struct{ leader raft.NodeID }

func (e *leaderElsewhere) Error() string { return fmt.Sprintf("leader is %x", uint64(e.leader)) }

// propose checks and encodes request (kv.NewCommand: etcd's request
// checks, then its size), replicates it through Raft on this member, which
// must lead, and returns the store's result for it (a *pb.XxxResponse).
// Errors are etcd's gRPC errors, except *leaderElsewhere. A caller that
// checks the quota does so first, as etcd does.
func (s *Server) propose(ctx context.Context, request *pb.InternalRaftRequest) (any, error) {
	taken := time.Now()
	if request.Header == nil {
		// A client's request carries its caller's identity, which every
		// member checks when it applies the entry (auth_identity.go).
		request.Header = requestHeader(ctx)
	}
	command, err := kv.NewCommand(request, kv.Limits{MaxRequestBytes: s.config.MaxRequestBytes, MaxTxnOps: s.config.MaxTxnOps})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	s.metrics.stage.checked.Observe(time.Since(taken).Seconds())
	for {
		s.metrics.proposals.Inc()
		s.metrics.pendingProposals.Add(1)
		result, err := s.node.Propose(ctx, command.Bytes())
		s.metrics.pendingProposals.Add(-1)
		var notLeader *node.NotLeaderError
		switch {
		case errors.As(err, &notLeader) && notLeader.Leader != raft.None:
			return nil, &leaderElsewhere{leader: notLeader.Leader}
		case errors.As(err, &notLeader):
			// An election is under way: wait for it, within the deadline.
			if waitErr := s.waitForLeader(ctx); waitErr != nil {
				s.metrics.proposalsFailed.Inc()
				return nil, waitErr
			}
			continue
		case err != nil:
			s.metrics.proposalsFailed.Inc()
			return nil, s.clientError(ctx, err)
		}
		s.metrics.stage.answered.Observe(time.Since(taken).Seconds())
		if resultErr, ok := result.(error); ok {
			return nil, resultErr
		}
		return result, nil
	}
}

// waitForLeader waits until some member leads, or ctx ends
// (ErrGRPCNoLeader).
func (s *Server) waitForLeader(ctx context.Context) error {
	ticker := time.NewTicker(s.config.HeartbeatInterval)
	defer ticker.Stop()
	for s.leader.Load() == 0 {
		select {
		case <-ctx.Done():
			return rpctypes.ErrGRPCNoLeader
		case <-s.stopping:
			return rpctypes.ErrGRPCStopped
		case <-ticker.C:
			s.refreshLeader()
		}
	}
	return nil
}

// readBarrier makes a local read linearizable: it returns once this
// member has applied everything committed before the call (a batched
// node.Read; see readBatcher), with etcd's errors.
func (s *Server) readBarrier(ctx context.Context) error {
	return s.reads.wait(ctx)
}

// errGRPCTimeoutLeaderTransfer is what etcd answers a MoveLeader whose
// target did not take over in time: its server error, which its gRPC layer
// does not map, so it reaches the client with code Unknown.
var errGRPCTimeoutLeaderTransfer = status.Error(codes.Unknown, "etcdserver: request timed out, leader transfer took too long")

// clientError maps a runtime error to the etcd error clients expect.
func (s *Server) clientError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, node.ErrStopped):
		if failure := s.logFailure(); failure != nil {
			return failure // the loop stopped on a failed log write (disk_full.go)
		}
		return rpctypes.ErrGRPCStopped
	case errors.Is(err, node.ErrDropped):
		return rpctypes.ErrGRPCLeaderChanged
	case errors.Is(err, node.ErrTransferAbandoned):
		return errGRPCTimeoutLeaderTransfer
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, node.ErrMaybeCommitted), errors.Is(err, context.DeadlineExceeded):
		if s.leader.Load() == 0 {
			return rpctypes.ErrGRPCTimeoutDueToLeaderFail
		}
		return rpctypes.ErrGRPCTimeout
	}
	var notLeader *node.NotLeaderError
	if errors.As(err, &notLeader) {
		return rpctypes.ErrGRPCNoLeader
	}
	return err
}

// forwardedKey marks a request a follower forwarded to the leader, so the
// leader never forwards it again (a request that finds no leader fails).
const forwardedKey = "lockstep-forwarded"

// outgoingForwarded marks an outgoing call as forwarded, with the
// client's token, if it sent one, for the leader to check.
func outgoingForwarded(ctx context.Context) context.Context {
	return forwardToken(ctx, metadata.AppendToOutgoingContext(ctx, forwardedKey, "1"))
}

func isForwarded(ctx context.Context) bool {
	values := metadata.ValueFromIncomingContext(ctx, forwardedKey)
	return len(values) > 0
}

// proposeOrForward proposes request on this member if it leads, or sends
// the client's original call to the leader with forward, and returns the
// typed response with its header filled in for this member.
func proposeOrForward[Response interface{ GetHeader() *pb.ResponseHeader }](
	s *Server, ctx context.Context, request *pb.InternalRaftRequest,
	forward func(ctx context.Context, clients *leaderClients) (Response, error),
) (Response, error) {
	var zero Response
	result, err := s.propose(ctx, request)
	var elsewhere *leaderElsewhere
	if errors.As(err, &elsewhere) {
		if isForwarded(ctx) {
			return zero, rpctypes.ErrGRPCLeaderChanged
		}
		outgoing, clients, err := s.forwardingContext(ctx, elsewhere.leader)
		if err != nil {
			return zero, err
		}
		response, err := forward(outgoing, clients)
		if err != nil {
			return zero, err
		}
		s.fillHeader(response.GetHeader(), response.GetHeader().GetRevision())
		return response, nil
	}
	if err != nil {
		return zero, err
	}
	response, ok := result.(Response)
	if !ok {
		return zero, fmt.Errorf("server: store answered %T, want %T", result, zero)
	}
	s.fillHeader(response.GetHeader(), response.GetHeader().GetRevision())
	return response, nil
}

// fillHeader completes a header the store or the leader made with this
// member's identity and term.
func (s *Server) fillHeader(header *pb.ResponseHeader, revision int64) {
	if header == nil {
		return
	}
	header.ClusterId, header.MemberId, header.RaftTerm, header.Revision = s.clusterID, uint64(s.id), s.term.Load(), revision
}
