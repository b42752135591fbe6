package localcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
)

// StartEtcd starts members members of etcd v3.7.3 (built by
// internal/etcdbin on first use) in directory, with a 100 ms heartbeat and
// a 1 s election timeout. For tests and benchmarks that need a real etcd.
func StartEtcd(ctx context.Context, directory string, members int) (*Cluster, error) {
	path, err := etcdbin.Path("etcd")
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	return Start(ctx, Options{
		Command: []string{path}, Members: members, Directory: directory,
		HeartbeatInterval: 100 * time.Millisecond, ElectionTimeout: time.Second,
	})
}
