package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/lockstepdb/lockstep/raft"
)

// Corruption checks, as etcd's: members that applied the same log hold the
// same history, so their HashKV at one revision (with the same compacted
// revision) must be equal. A member whose store changed under it (a disk
// that returned other bytes than it was given, a bug) breaks that.
//
//   - The initial check (etcd's feature gate InitialCorruptCheck): a member
//     that starts on existing data asks its peers for their hash at its own
//     revision and refuses to start if one differs.
//   - The periodic check (etcd's --corrupt-check-time): the leader asks
//     every member for its hash at the leader's revision; the members whose
//     hash differs from the majority's (without one, from the leader's) get
//     a CORRUPT alarm, which stops the cluster's reads and writes until an
//     operator acts (docs/operations.md).
//
// The hashes are asked over the peer port (transport queries), with the
// peers' TLS, never over the client port: computing one reads a member's
// whole history.

// hashQuery is the transport query that answers a member's hash: the
// request is a pb.HashKVRequest, the answer a pb.HashKVResponse whose
// HashRevision is 0 when the member could not hash that revision (it has
// not reached it, or compacted past it); its Header.Revision is the
// member's current revision.
const hashQuery = "lockstep.server.HashKV"

// minimumCorruptCheckInterval bounds --corrupt-check-time from below: each
// check reads every member's whole history.
const minimumCorruptCheckInterval = time.Second

// answerHash answers hashQuery (from the transport's goroutines).
func (s *Server) answerHash(_ context.Context, request []byte) ([]byte, error) {
	var asked pb.HashKVRequest
	if err := proto.Unmarshal(request, &asked); err != nil {
		return nil, fmt.Errorf("server: a malformed hash query: %w", err)
	}
	current, compacted := s.store.Revision()
	answer := &pb.HashKVResponse{Header: &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: uint64(s.id), Revision: current}, CompactRevision: compacted}
	if asked.Revision > 0 && asked.Revision <= current && asked.Revision >= compacted {
		hash, hashRevision, compactRevision, err := s.store.HashKV(asked.Revision)
		switch {
		case err == nil:
			answer.Hash, answer.HashRevision, answer.CompactRevision = hash, hashRevision, compactRevision
		case !isRevisionError(err):
			return nil, err
		}
	}
	return proto.Marshal(answer)
}

// isRevisionError reports whether err says a revision is out of the
// store's range (compacted or future): a race with a compaction or an
// apply, not a failure.
func isRevisionError(err error) bool {
	return errors.Is(err, rpctypes.ErrGRPCFutureRev) || errors.Is(err, rpctypes.ErrGRPCCompacted)
}

// memberHash is one member's answer to a hash query.
type memberHash struct {
	member raft.NodeID
	// hashed is false when the member could not hash the revision asked,
	// or did not answer (err).
	hashed          bool
	hash            uint32
	compactRevision int64
	err             error
}

// peerHashes asks every member but this one for its hash at revision, at
// once, and returns their answers.
func (s *Server) peerHashes(ctx context.Context, members []raft.NodeID, revision int64) []memberHash {
	request, _ := proto.Marshal(&pb.HashKVRequest{Revision: revision})
	answers := make([]memberHash, 0, len(members))
	var mu sync.Mutex
	var group sync.WaitGroup
	for _, member := range members {
		if member == s.id {
			continue
		}
		group.Go(func() {
			answer := memberHash{member: member}
			reply, err := s.peers.Query(ctx, member, hashQuery, request)
			var decoded pb.HashKVResponse
			if err == nil {
				err = proto.Unmarshal(reply, &decoded)
			}
			if err != nil {
				answer.err = err
			} else if decoded.HashRevision == revision {
				answer.hashed, answer.hash, answer.compactRevision = true, decoded.Hash, decoded.CompactRevision
			}
			mu.Lock()
			answers = append(answers, answer)
			mu.Unlock()
		})
	}
	group.Wait()
	slices.SortFunc(answers, func(a, b memberHash) int { return cmp.Compare(a.member, b.member) })
	return answers
}

// divergent returns the members whose hash differs from the majority's,
// given this member's own hash and its peers' answers: those comparable
// with it (hashed at the same revision with the same compacted revision)
// are grouped by hash, and a group holding more than half of all members
// (clusterSize) is the majority. Without one, it returns the members whose
// hash differs from this member's, as etcd's check does (it takes the
// leader's hash for the truth); the log shows every hash, for an operator
// to judge.
func divergent(self raft.NodeID, ownHash uint32, ownCompacted int64, peers []memberHash, clusterSize int) []raft.NodeID {
	holders := map[uint32][]raft.NodeID{ownHash: {self}}
	for _, peer := range peers {
		if peer.hashed && peer.compactRevision == ownCompacted {
			holders[peer.hash] = append(holders[peer.hash], peer.member)
		}
	}
	truth := ownHash
	for hash, members := range holders {
		if len(members) > clusterSize/2 {
			truth = hash
		}
	}
	var wrong []raft.NodeID
	for hash, members := range holders {
		if hash != truth {
			wrong = append(wrong, members...)
		}
	}
	slices.Sort(wrong)
	return wrong
}

// clusterMembers returns every member (voters and learners) of the
// configuration this member knows.
func (s *Server) clusterMembers(ctx context.Context) ([]raft.NodeID, error) {
	status, err := s.node.Status(ctx)
	if err != nil {
		return nil, err
	}
	members := slices.Concat(status.Membership.Voters, status.Membership.OutgoingVoters, status.Membership.Learners)
	slices.Sort(members)
	return slices.Compact(members), nil
}

// checkCorruption compares every member's hash at this member's current
// revision and returns the members that diverge (see divergent). The
// peers get a request timeout from the moment this member has its own
// hash, which reads its whole history first.
func (s *Server) checkCorruption() ([]raft.NodeID, error) {
	hash, revision, compacted, err := s.store.HashKV(0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
	defer cancel()
	members, err := s.clusterMembers(ctx)
	if err != nil {
		return nil, err
	}
	peers := s.peerHashes(ctx, members, revision)
	for _, peer := range peers {
		switch {
		case peer.err != nil:
			s.log.Warn("corruption check: a member did not answer", "member", fmt.Sprintf("%x", uint64(peer.member)), "error", peer.err)
		case !peer.hashed:
			s.log.Debug("corruption check: a member could not hash the revision", "member", fmt.Sprintf("%x", uint64(peer.member)), "revision", revision)
		}
	}
	wrong := divergent(s.id, hash, compacted, peers, len(members))
	if len(wrong) > 0 {
		s.log.Error("corruption check: members' data differ", "revision", revision, "compacted", compacted, "hash", hash,
			"answers", describeHashes(peers), "divergent", describeMembers(wrong))
	}
	return wrong, nil
}

// runCorruptionChecks checks every interval while this member leads, and
// raises a CORRUPT alarm for each divergent member; it ends when the
// server stops. The goroutine of --corrupt-check-time.
func (s *Server) runCorruptionChecks() {
	s.every(s.config.CorruptCheckInterval, func() {
		if s.leader.Load() != uint64(s.id) {
			return
		}
		wrong, err := s.checkCorruption()
		if err != nil {
			s.log.Warn("corruption check failed; will try again", "error", err)
			return
		}
		for _, member := range wrong {
			if slices.ContainsFunc(s.store.Alarms(), func(active *pb.AlarmMember) bool {
				return active.Alarm == pb.AlarmType_CORRUPT && active.MemberID == uint64(member)
			}) {
				continue // raised by an earlier check
			}
			alarm := &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: uint64(member), Alarm: pb.AlarmType_CORRUPT}}
			ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
			_, err := s.propose(ctx, alarm)
			cancel()
			if err != nil {
				s.log.Warn("could not raise the CORRUPT alarm; the next check will", "member", fmt.Sprintf("%x", uint64(member)), "error", err)
			}
		}
	})
}

// initialCorruptionCheck is etcd's InitialCorruptCheck, run once as the
// member starts on existing data: it asks its peers for their hashes at
// its own revision and fails if a peer that could hash it (same revision,
// same compacted revision) holds another. Peers that do not answer within
// the request timeout are skipped, as in etcd.
func (s *Server) initialCorruptionCheck() error {
	hash, revision, compacted, err := s.store.HashKV(0)
	if err != nil {
		return fmt.Errorf("server: initial corruption check: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
	defer cancel()
	members, err := s.clusterMembers(ctx)
	if err != nil {
		return fmt.Errorf("server: initial corruption check: %w", err)
	}
	peers := s.peerHashes(ctx, members, revision)
	compared := 0
	for _, peer := range peers {
		if !peer.hashed || peer.compactRevision != compacted {
			continue
		}
		compared++
		if peer.hash != hash {
			return fmt.Errorf("server: initial corruption check: this member's data differ from member %x's at revision %d (hash %d, theirs %d, compacted at %d): refusing to start; see docs/operations.md, \"Corruption checks\"",
				uint64(peer.member), revision, hash, peer.hash, compacted)
		}
	}
	s.log.Info("initial corruption check passed", "revision", revision, "hash", hash, "peers compared", compared, "peers", len(peers))
	return nil
}

// describeHashes lists the members' answers for a log line.
func describeHashes(peers []memberHash) []string {
	var lines []string
	for _, peer := range peers {
		switch {
		case peer.err != nil:
			lines = append(lines, fmt.Sprintf("%x: no answer", uint64(peer.member)))
		case !peer.hashed:
			lines = append(lines, fmt.Sprintf("%x: not at the revision", uint64(peer.member)))
		default:
			lines = append(lines, fmt.Sprintf("%x: hash %d, compacted at %d", uint64(peer.member), peer.hash, peer.compactRevision))
		}
	}
	return lines
}

// describeMembers lists member IDs in hexadecimal, as etcd prints them.
func describeMembers(members []raft.NodeID) []string {
	var names []string
	for _, member := range members {
		names = append(names, fmt.Sprintf("%x", uint64(member)))
	}
	return names
}
