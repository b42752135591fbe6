package cluster

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// healthKey is the key health probes read; reading it changes nothing.
const healthKey = "lockstep-check-health"

// probeTimeout bounds one health probe of one member.
const probeTimeout = 2 * time.Second

// probeInterval spaces the probes of a member that is not yet healthy.
const probeInterval = 100 * time.Millisecond

// WaitHealthy waits until every named member (every member that is not
// removed, if none are named) serves a linearizable read through its own
// endpoint, which needs a leader and a quorum. It returns an error naming
// the members still unhealthy when ctx ends.
func (cluster *Cluster) WaitHealthy(ctx context.Context, names ...string) error {
	members := cluster.selectMembers(names)
	for _, member := range members {
		if err := cluster.waitMemberHealthy(ctx, member); err != nil {
			return err
		}
	}
	return nil
}

// selectMembers returns the named members, or every member not removed.
func (cluster *Cluster) selectMembers(names []string) []*Member {
	if len(names) > 0 {
		var members []*Member
		for _, name := range names {
			if member := cluster.Member(name); member != nil {
				members = append(members, member)
			}
		}
		return members
	}
	return cluster.Present()
}

func (cluster *Cluster) waitMemberHealthy(ctx context.Context, member *Member) error {
	client, err := cluster.client(member)
	if err != nil {
		return err
	}
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		if cluster.managed && !member.Running() {
			return fmt.Errorf("cluster: %s is not running%s", member.Name, member.exitReport())
		}
		probe, cancel := context.WithTimeout(ctx, probeTimeout)
		_, lastErr = client.Get(probe, healthKey)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s not healthy: %w (last probe: %v)", member.Name, ctx.Err(), lastErr)
		case <-ticker.C:
		}
	}
}

// Present returns the members that are not removed from the cluster.
func (cluster *Cluster) Present() []*Member {
	var members []*Member
	for _, member := range cluster.members {
		if !member.Removed() {
			members = append(members, member)
		}
	}
	return members
}

// Status asks member for its status (Maintenance.Status) through its own
// endpoint, within probeTimeout.
func (cluster *Cluster) Status(ctx context.Context, member *Member) (*clientv3.StatusResponse, error) {
	client, err := cluster.client(member)
	if err != nil {
		return nil, err
	}
	probe, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return client.Status(probe, member.ClientURL)
}
