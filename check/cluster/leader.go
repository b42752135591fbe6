package cluster

import (
	"context"
	"fmt"
)

// Leader asks every reachable member for its status and returns the member
// that reports itself leader in the highest term (a deposed leader cut off
// in a minority may still believe it leads in an older term).
func (cluster *Cluster) Leader(ctx context.Context) (*Member, error) {
	var leader *Member
	var leaderTerm uint64
	for _, member := range cluster.Present() {
		client, err := cluster.client(member)
		if err != nil {
			return nil, err
		}
		probe, cancel := context.WithTimeout(ctx, probeTimeout)
		status, err := client.Status(probe, member.ClientURL)
		cancel()
		if err != nil {
			continue
		}
		member.setID(status.Header.MemberId)
		if status.Leader == status.Header.MemberId && status.RaftTerm >= leaderTerm {
			leader, leaderTerm = member, status.RaftTerm
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("cluster: no member reports itself leader")
	}
	return leader, nil
}

// MoveLeader asks the current leader to hand leadership to member to
// (Maintenance.MoveLeader, which must be sent to the leader). It is a no-op
// when to already leads.
func (cluster *Cluster) MoveLeader(ctx context.Context, to *Member) error {
	leader, err := cluster.Leader(ctx)
	if err != nil {
		return fmt.Errorf("cluster: move leader to %s: %w", to.Name, err)
	}
	if leader == to {
		return nil
	}
	if to.ID() == 0 {
		return fmt.Errorf("cluster: move leader to %s: its member ID is unknown (unreachable?)", to.Name)
	}
	client, err := cluster.client(leader)
	if err != nil {
		return err
	}
	if _, err := client.MoveLeader(ctx, to.ID()); err != nil {
		return fmt.Errorf("cluster: move leader from %s to %s: %w", leader.Name, to.Name, err)
	}
	return nil
}
