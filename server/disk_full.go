package server

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkDisk refuses a write at once, with gRPC's ResourceExhausted and a
// message naming the cause, while this member leads and its store's disk
// is full (kv.Store.DiskFull): the leader answers a write only once it has
// applied it, and a full disk stalls its applying, so the client would
// otherwise wait for its deadline. A follower's full disk refuses nothing:
// it forwards writes to the leader, and the other members commit them.
func (s *Server) checkDisk() error {
	if s.leader.Load() != uint64(s.id) {
		return nil
	}
	if cause := s.store.DiskFull(); cause != nil {
		return status.Error(codes.ResourceExhausted, "lockstep: the leader's disk is full; writes are refused until space returns (see docs/operations.md): "+cause.Error())
	}
	return nil
}

// diskStatus returns what Status, /readyz and /health say about this
// member's disk: empty while it takes writes.
func (s *Server) diskStatus() string {
	if cause := s.store.DiskFull(); cause != nil {
		return "DISK FULL: " + cause.Error()
	}
	return ""
}
