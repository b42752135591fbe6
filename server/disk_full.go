package server

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkDisk refuses a write at once, with gRPC's ResourceExhausted and a
// message naming the cause, while this member leads and its store's disk
// is full (kv.Store.DiskFull), or its Raft log's disk is
// (node.Node.LogDiskFull), and with Unavailable while its store's flushes
// fail for another reason (kv.Store.Failing): the leader answers a write only once it has
// applied it, and a full disk stalls its applying (it applies only what
// its own log holds durably), so the client would otherwise wait for its
// deadline. A follower's full disk refuses nothing: it forwards writes to
// the leader, and the other members commit them.
//
// A member whose Raft loop stopped on a failed log write or fsync refuses
// every write with Unavailable and says why: after a failed fsync the
// kernel may have dropped what was written, so the log never retries;
// a restart recovers from what is durable.
func (s *Server) checkDisk() error {
	if failure := s.logFailure(); failure != nil {
		return failure
	}
	if s.leader.Load() != uint64(s.id) {
		return nil
	}
	if cause := s.node.LogDiskFull(); cause != nil {
		return status.Error(codes.ResourceExhausted, "lockstep: the leader's Raft log disk is full; writes are refused until space returns (see docs/operations.md): "+cause.Error())
	}
	if cause := s.store.DiskFull(); cause != nil {
		return status.Error(codes.ResourceExhausted, "lockstep: the leader's disk is full; writes are refused until space returns (see docs/operations.md): "+cause.Error())
	}
	if cause := s.store.Failing(); cause != nil {
		return status.Error(codes.Unavailable, "lockstep: the leader's store cannot write its data to disk; writes are refused until it can, and leadership goes to another member (see docs/operations.md): "+cause.Error())
	}
	return nil
}

// logFailure returns, once this member's Raft loop stopped on a failed log
// write or fsync, the Unavailable error that names it; nil otherwise.
func (s *Server) logFailure() error {
	if failure := s.node.Err(); failure != nil {
		return status.Error(codes.Unavailable, "lockstep: this member's Raft log failed; it refuses writes until it is restarted, and then recovers from its log: "+failure.Error())
	}
	return nil
}

// diskStatus returns what Status, /readyz and /health say about this
// member's storage: empty while its log and store take writes.
func (s *Server) diskStatus() string {
	if failure := s.node.Err(); failure != nil {
		return "STORAGE FAILED: " + failure.Error()
	}
	if cause := s.node.LogDiskFull(); cause != nil {
		return "RAFT LOG DISK FULL: " + cause.Error()
	}
	if cause := s.store.DiskFull(); cause != nil {
		return "DISK FULL: " + cause.Error()
	}
	if cause := s.store.Failing(); cause != nil {
		return "STORE FAILING: " + cause.Error()
	}
	return ""
}

// diskCheckInterval is how often a leader looks whether its store's disk
// is full.
const diskCheckInterval = time.Second

// handOverWhileDiskFull hands leadership to the most up-to-date follower
// while this member leads and its store's disk, or its Raft log's, is
// full, or its store's flushes fail (kv.Store.Failing): the leader
// answers a write only once it has applied it, and a full or failing disk
// stops its applying, so the cluster is better led by a member that can
// write. The full member stays a follower: with a full store
// disk its Raft log still takes the entries and its store catches up when
// space returns; with a full log disk it acknowledges nothing until then,
// and the others commit without it. It ends when the server stops.
func (s *Server) handOverWhileDiskFull() {
	s.every(diskCheckInterval, func() {
		if s.leader.Load() != uint64(s.id) {
			return
		}
		reason := ""
		switch {
		case s.store.DiskFull() != nil || s.node.LogDiskFull() != nil:
			reason = "because this member's disk is full"
		case s.store.Failing() != nil:
			reason = "because this member's store cannot write to its disk"
		default:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
		s.handOver(ctx, reason)
		cancel()
	})
}
