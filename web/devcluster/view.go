package devcluster

import (
	"context"
	"sync"

	"github.com/lockstepdb/lockstep/web"
	"github.com/lockstepdb/lockstep/web/serverview"
)

// Sample implements web.Cluster: every member's state, stopped ones as
// down, sampled side by side so one slow member does not delay the rest.
func (c *Cluster) Sample(ctx context.Context) []web.MemberState {
	c.mu.Lock()
	running := append([]*serverRef(nil), c.refs()...)
	c.mu.Unlock()
	states := make([]web.MemberState, len(running))
	var group sync.WaitGroup
	for i, ref := range running {
		group.Go(func() {
			if ref.server == nil {
				states[i] = web.MemberState{Name: c.config.Members[i].Name, ID: web.FormatID(uint64(ref.id)), Error: "stopped"}
			} else {
				states[i] = serverview.State(ctx, ref.server)
			}
			states[i].Partitioned = ref.partitioned
		})
	}
	group.Wait()
	return states
}

// Watch implements web.Cluster: signalled by any running member's events.
// Members restarted after the call are seen by the stream's periodic
// sampling instead.
func (c *Cluster) Watch() (<-chan struct{}, func()) {
	c.mu.Lock()
	refs := c.refs()
	c.mu.Unlock()
	merged := make(chan struct{}, 1)
	done := make(chan struct{})
	var stops []func()
	for _, ref := range refs {
		if ref.server == nil {
			continue
		}
		changes, stop := ref.server.WatchChanges()
		stops = append(stops, stop)
		go func() {
			for {
				select {
				case <-done:
					return
				case <-changes:
					select {
					case merged <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	var once sync.Once
	return merged, func() {
		once.Do(func() {
			close(done)
			for _, stop := range stops {
				stop()
			}
		})
	}
}
