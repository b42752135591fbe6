package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// membershipAttemptTimeout bounds one membership call; the calls are
// retried through other members until the caller's context ends, since a
// cluster that just lost a member may briefly refuse reconfiguration.
const membershipAttemptTimeout = 5 * time.Second

// membershipRetryInterval spaces those attempts.
const membershipRetryInterval = 250 * time.Millisecond

// RemoveMember removes member from the cluster (Cluster.MemberRemove,
// through another member), then kills its process and wipes its data
// directory, so it can only come back as a new member (AddMember).
func (cluster *Cluster) RemoveMember(ctx context.Context, member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	// A removed member shuts itself down (etcd does, lockstep too), as soon
	// as it learns of its removal, which may be before MemberRemove
	// answers: its exit is expected from the start.
	member.mutex.Lock()
	member.expectExit = true
	member.mutex.Unlock()
	err := cluster.throughOthers(ctx, member, func(attempt context.Context, through *Member) error {
		client, err := cluster.client(through)
		if err != nil {
			return err
		}
		list, err := client.MemberList(attempt)
		if err != nil {
			return err
		}
		id, found := memberWithPeerURL(list.Members, member.PeerURL)
		if !found {
			return nil // already removed (an earlier attempt did it, though its answer was lost)
		}
		member.setID(id) // so that AddMember can tell its successor from it
		_, err = client.MemberRemove(attempt, id)
		if errors.Is(err, rpctypes.ErrMemberNotFound) {
			return nil
		}
		return err
	})
	if err != nil && !cluster.absent(member) {
		member.mutex.Lock()
		member.expectExit = false
		member.mutex.Unlock()
		return fmt.Errorf("cluster: remove %s: %w", member.Name, err)
	}
	member.mutex.Lock()
	member.removed = true
	member.mutex.Unlock()
	if err := member.kill(ctx); err != nil {
		return err
	}
	if err := member.wipeData(); err != nil {
		return fmt.Errorf("cluster: wipe %s: %w", member.Name, err)
	}
	cluster.logger.Info("member removed", "member", member.Name)
	return nil
}

// AddMember adds a removed member back as a new member (Cluster.MemberAdd
// with its peer URL) and starts it with an empty data directory and
// --initial-cluster-state=existing.
func (cluster *Cluster) AddMember(ctx context.Context, member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	var members []*etcdserverpb.Member
	var newID uint64
	removedID := member.ID()
	err := cluster.throughOthers(ctx, member, func(attempt context.Context, through *Member) error {
		client, err := cluster.client(through)
		if err != nil {
			return err
		}
		added, err := client.MemberAdd(attempt, []string{member.PeerURL})
		if err == nil {
			members, newID = added.Members, added.Member.ID
			return nil
		}
		if !errors.Is(err, rpctypes.ErrPeerURLExist) {
			return err
		}
		// An earlier attempt added it but its answer was lost. The list
		// is this member's own view, which may still hold the removed
		// member at the same URL (a member that lags, say restoring a
		// snapshot): the new member is the one with another ID, and a
		// list without it is asked again through the next member.
		list, listErr := client.MemberList(attempt)
		if listErr != nil {
			return listErr
		}
		current, id, found := addedMember(list.Members, member.PeerURL, removedID)
		if !found {
			return fmt.Errorf("cluster: %s's member list has no new member at %s yet", through.Name, member.PeerURL)
		}
		members, newID = current, id
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: add %s: %w", member.Name, err)
	}
	initialCluster, err := initialClusterOf(members, newID, member.Name)
	if err != nil {
		return err
	}
	member.mutex.Lock()
	member.initialCluster, member.clusterState, member.id, member.removed = initialCluster, "existing", newID, false
	member.mutex.Unlock()
	if err := member.start(cluster.system); err != nil {
		return err
	}
	cluster.logger.Info("member added", "member", member.Name, "pid", member.PID())
	return nil
}

// absent reports whether another member's member list (asked once, after
// a removal whose answer was lost or late) no longer has member.
func (cluster *Cluster) absent(member *Member) bool {
	ctx, cancel := context.WithTimeout(context.Background(), membershipAttemptTimeout)
	defer cancel()
	for _, through := range cluster.Present() {
		if through == member || !through.Running() || through.Paused() {
			continue
		}
		client, err := cluster.client(through)
		if err != nil {
			continue
		}
		list, err := client.MemberList(ctx)
		if err != nil {
			continue
		}
		_, found := memberWithPeerURL(list.Members, member.PeerURL)
		return !found
	}
	return false
}

// throughOthers runs call through each running member other than except,
// in turn, until one attempt succeeds or ctx ends.
func (cluster *Cluster) throughOthers(ctx context.Context, except *Member,
	call func(attempt context.Context, through *Member) error) error {
	var lastErr error
	for {
		for _, through := range cluster.Present() {
			if through == except || !through.Running() || through.Paused() {
				continue
			}
			attempt, cancel := context.WithTimeout(ctx, membershipAttemptTimeout)
			lastErr = call(attempt, through)
			cancel()
			if lastErr == nil {
				return nil
			}
		}
		if lastErr == nil {
			lastErr = errors.New("no other member is running")
		}
		timer := time.NewTimer(membershipRetryInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), lastErr)
		case <-timer.C:
		}
	}
}

// memberWithPeerURL finds the member advertising url.
func memberWithPeerURL(members []*etcdserverpb.Member, url string) (uint64, bool) {
	for _, member := range members {
		if slices.Contains(member.PeerURLs, url) {
			return member.ID, true
		}
	}
	return 0, false
}

// addedMember finds, in a member list, the member added at url to take
// the place of the one removed with removedID (0: unknown), which a
// lagging member's list may still show at the same URL: the list without
// the removed one, and the new member's ID; false if the list has no
// other member at url.
func addedMember(members []*etcdserverpb.Member, url string, removedID uint64) ([]*etcdserverpb.Member, uint64, bool) {
	current := slices.DeleteFunc(slices.Clone(members), func(member *etcdserverpb.Member) bool {
		return removedID != 0 && member.ID == removedID
	})
	id, found := memberWithPeerURL(current, url)
	return current, id, found
}

// initialClusterOf renders --initial-cluster for a joining member from the
// membership that includes it (where it has no name yet).
func initialClusterOf(members []*etcdserverpb.Member, newID uint64, newName string) (string, error) {
	var entries []string
	for _, member := range members {
		name := member.Name
		if member.ID == newID {
			name = newName
		}
		if name == "" {
			return "", fmt.Errorf("cluster: member %x has no name yet (another unstarted member?)", member.ID)
		}
		for _, url := range member.PeerURLs {
			entries = append(entries, name+"="+url)
		}
	}
	return strings.Join(entries, ","), nil
}
