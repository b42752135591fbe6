package devcluster

import (
	"context"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/server"
)

// serverRef is one member as seen under the lock.
type serverRef struct {
	server      *server.Server
	id          raft.NodeID
	partitioned bool
}

// refs copies the members' references; the caller holds c.mu.
func (c *Cluster) refs() []*serverRef {
	refs := make([]*serverRef, len(c.servers))
	for i := range c.servers {
		refs[i] = &serverRef{server: c.servers[i], id: c.ids[i], partitioned: c.partitioned[i]}
	}
	return refs
}

// Act implements web.Control for the dashboard's buttons.
func (c *Cluster) Act(ctx context.Context, action, member string) error {
	if action == "heal" {
		c.Heal()
		return nil
	}
	i := c.index(member)
	if i < 0 {
		return fmt.Errorf("devcluster: no member named %q", member)
	}
	switch action {
	case "stop":
		return c.StopMember(ctx, i)
	case "restart":
		return c.RestartMember(ctx, i)
	case "partition":
		c.Partition(i)
		return nil
	case "transfer":
		return c.Transfer(ctx, i)
	}
	return fmt.Errorf("devcluster: unknown action %q", action)
}

// StopMember stops member i (a leader hands over first, as lockstep serve
// does on SIGTERM). Stopping a stopped member is an error.
func (c *Cluster) StopMember(ctx context.Context, i int) error {
	c.mu.Lock()
	running := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if running == nil {
		return fmt.Errorf("devcluster: %s is not running", c.config.Members[i].Name)
	}
	return running.Stop(ctx)
}

// RestartMember stops member i if it runs and starts it again from its data.
func (c *Cluster) RestartMember(ctx context.Context, i int) error {
	if c.Server(i) != nil {
		if err := c.StopMember(ctx, i); err != nil {
			return err
		}
	}
	return c.start(i)
}

// Partition cuts member i off from every other member, both ways.
func (c *Cluster) Partition(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partitioned[i] = true
	for j, other := range c.ids {
		if j != i && other != raft.None && c.ids[i] != raft.None {
			c.faults.Partition(c.ids[i], other)
		}
	}
}

// Heal restores every link.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.HealAll()
	clear(c.partitioned)
}

// Transfer asks the current leader to hand leadership to member i.
func (c *Cluster) Transfer(ctx context.Context, i int) error {
	c.mu.Lock()
	refs := c.refs()
	c.mu.Unlock()
	target := refs[i].id
	for _, ref := range refs {
		if ref.server == nil || raft.NodeID(ref.server.Leader()) != ref.id {
			continue
		}
		if ref.id == target {
			return fmt.Errorf("devcluster: %s already leads", c.config.Members[i].Name)
		}
		if err := ref.server.Node().TransferLeadership(ctx, target); err != nil {
			return fmt.Errorf("devcluster: transfer leadership to %s: %w", c.config.Members[i].Name, err)
		}
		return nil
	}
	return fmt.Errorf("devcluster: no leader to transfer from")
}
