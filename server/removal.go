package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// ErrRemoved is the error every client request gets from a member removed
// from its cluster, at once rather than at the client's deadline, until the
// process exits (lockstep serve exits when Removed is closed). It is not
// one the client retries on the same endpoint.
var ErrRemoved = status.Error(codes.FailedPrecondition, "lockstep: this member has been permanently removed from the cluster: use another member's endpoint")

// Removed returns a channel closed once this member has learnt that it was
// removed from the cluster, as etcd's "the member has been permanently
// removed from the cluster": it applied its removal, or a member that did
// refused its messages. It can never serve again under its ID: the
// process should stop it and exit (lockstep serve does, with status 1).
func (s *Server) Removed() <-chan struct{} { return s.removed }

// watchRemoval waits for the node to learn of its removal, then logs it,
// turns the health check to NOT_SERVING and closes s.removed.
func (s *Server) watchRemoval() {
	select {
	case <-s.stopping:
	case <-s.node.Removed():
		s.isRemoved.Store(true)
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		s.log.Error("the member has been permanently removed from the cluster: it stops serving; remove its data directory before adding it back as a new member")
		close(s.removed)
	}
}

// refuseWhenRemoved fails unary client requests with ErrRemoved once this
// member is removed.
func (s *Server) refuseWhenRemoved(ctx context.Context, request any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.isRemoved.Load() {
		return nil, ErrRemoved
	}
	return handler(ctx, request)
}

// refuseStreamWhenRemoved is refuseWhenRemoved for streams (Watch,
// LeaseKeepAlive, Snapshot).
func (s *Server) refuseStreamWhenRemoved(server any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.isRemoved.Load() {
		return ErrRemoved
	}
	return handler(server, stream)
}
