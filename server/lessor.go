package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// lessor decides when leases expire. Only the leader keeps expiry times,
// in memory; when one passes it proposes a LeaseRevoke, so every replica
// deletes the lease's keys at the same revision. A new leader cannot know
// how long the old one had left, so it grants every lease a full TTL from
// the moment it took office (a lease may live longer than its TTL across
// a leader change, never shorter), as etcd does.
type lessor struct {
	server *Server
	mu     sync.Mutex
	// expiry holds, on the leader, each known lease's deadline.
	expiry map[int64]time.Time
	leader bool
}

// Lease TTL bounds, in seconds: the minimum keeps a lease alive across a
// leader change (etcd's rule: 1.5 election timeouts); the maximum is
// etcd's.
const maxLeaseTTL = 9_000_000_000

func newLessor(s *Server) *lessor { return &lessor{server: s, expiry: map[int64]time.Time{}} }

func (l *lessor) minTTL() int64 {
	seconds := (3*l.server.config.ElectionTimeout/2 + time.Second - 1) / time.Second
	return max(int64(seconds), 1)
}

// leaderChanged is called when this member gains or loses leadership.
func (l *lessor) leaderChanged(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leader = leading
	clear(l.expiry) // a new term starts every lease afresh (see run)
}

// renew restarts a lease's clock on the leader and returns its TTL, or
// false if this member does not lead or the lease does not exist.
func (l *lessor) renew(id int64) (int64, bool) {
	info, ok := l.server.store.Lease(id)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return 0, false
	}
	l.expiry[id] = time.Now().Add(time.Duration(info.TTL) * time.Second)
	return info.TTL, true
}

// remaining returns the seconds left on a lease, as the leader sees it.
func (l *lessor) remaining(id int64, ttl int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	deadline, ok := l.expiry[id]
	if !ok {
		return ttl
	}
	left := time.Until(deadline)
	if left < 0 {
		return 0
	}
	return int64((left + time.Second - 1) / time.Second)
}

// run checks for expired leases every half second while this member
// leads; it ends when the server stops.
func (l *lessor) run() {
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-l.server.stopping:
			return
		case <-ticker.C:
		}
		for _, id := range l.expired() {
			ctx, cancel := context.WithTimeout(context.Background(), l.server.requestTimeout())
			_, err := l.server.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
			cancel()
			if err != nil {
				l.server.log.Debug("revoking an expired lease failed; will retry", "lease", fmt.Sprintf("%x", int64(id)), "error", err)
			}
		}
	}
}

// expired returns the leases whose deadline passed, and starts the clock
// of leases granted (or inherited from an earlier leader) since last time.
func (l *lessor) expired() []int64 {
	leases := l.server.store.Leases()
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leader {
		return nil
	}
	var expired []int64
	known := make(map[int64]bool, len(leases))
	for _, lease := range leases {
		known[lease.ID] = true
		deadline, ok := l.expiry[lease.ID]
		if !ok {
			l.expiry[lease.ID] = now.Add(time.Duration(lease.TTL) * time.Second)
			continue
		}
		if now.After(deadline) {
			expired = append(expired, lease.ID)
		}
	}
	for id := range l.expiry {
		if !known[id] {
			delete(l.expiry, id)
		}
	}
	return expired
}

// newLeaseID picks an ID for a lease granted with ID 0: random, positive,
// so clients that print IDs as signed numbers see no negatives. A
// collision is refused by the store with ErrGRPCLeaseExist and retried.
func newLeaseID() int64 { return rand.Int64N(1<<62) + 1 }
