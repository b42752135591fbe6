package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/raft"
)

// testCluster runs lockstep members in this process on 127.0.0.1, with
// short timings so elections take a fraction of a second.
type testCluster struct {
	t       *testing.T
	dir     string
	configs []Config
	members []*Server // nil while a member is stopped
}

const (
	testHeartbeat = 20 * time.Millisecond
	testElection  = 200 * time.Millisecond
)

// testLogger writes members' logs to the test log when LOCKSTEP_TEST_LOGS
// is set, and discards them otherwise.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("LOCKSTEP_TEST_LOGS") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// freePort returns a loopback port no other member of this process got.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func startCluster(t *testing.T, size int, adjust func(*Config)) *testCluster {
	t.Helper()
	cluster := &testCluster{t: t, dir: t.TempDir()}
	initial := map[string][]string{}
	for i := range size {
		name := fmt.Sprintf("m%d", i+1)
		initial[name] = []string{fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	}
	for i := range size {
		name := fmt.Sprintf("m%d", i+1)
		config := Config{
			Name: name, DataDirectory: filepath.Join(cluster.dir, name),
			ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: initial[name],
			InitialCluster: initial, InitialClusterToken: "test", HeartbeatInterval: testHeartbeat, ElectionTimeout: testElection,
			WALSegmentBytes: 1 << 20,
			Logger:          testLogger(t).With("test-member", name),
		}
		if adjust != nil {
			adjust(&config)
		}
		cluster.configs = append(cluster.configs, config)
		cluster.members = append(cluster.members, nil)
	}
	t.Cleanup(cluster.stopAll)
	// Start the members side by side, as separate machines would.
	errs := make([]error, size)
	var group sync.WaitGroup
	for i := range size {
		group.Go(func() { cluster.members[i], errs[i] = Start(cluster.configs[i]) })
	}
	group.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", cluster.configs[i].Name, err)
		}
	}
	return cluster
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	member, err := Start(c.configs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.configs[i].Name, err)
	}
	c.members[i] = member
}

// stop stops member i gracefully (a leader hands over first).
func (c *testCluster) stop(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.members[i].Stop(ctx); err != nil {
		c.t.Fatalf("stop %s: %v", c.configs[i].Name, err)
	}
	c.members[i] = nil
}

// kill stops member i the way a crash would, as far as the cluster can
// tell: no handover, listeners gone at once.
func (c *testCluster) kill(i int) {
	c.t.Helper()
	if err := c.members[i].kill(); err != nil {
		c.t.Fatalf("kill %s: %v", c.configs[i].Name, err)
	}
	c.members[i] = nil
}

func (c *testCluster) stopAll() {
	for i, member := range c.members {
		if member != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			member.Stop(ctx)
			cancel()
			c.members[i] = nil
		}
	}
}

// endpoint returns member i's client address.
func (c *testCluster) endpoint(i int) string { return c.members[i].ClientAddresses()[0] }

// endpoints returns the client addresses of the running members.
func (c *testCluster) endpoints() []string {
	var list []string
	for _, member := range c.members {
		if member != nil {
			list = append(list, member.ClientAddresses()[0])
		}
	}
	return list
}

// client returns an etcd client of the given endpoints (default: every
// running member), closed with the test.
func (c *testCluster) client(endpoints ...string) *clientv3.Client {
	c.t.Helper()
	if len(endpoints) == 0 {
		endpoints = c.endpoints()
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { client.Close() })
	return client
}

// leader waits until the running members agree on a leader and returns
// its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var leader raft.NodeID
		agreed := true
		for _, member := range c.members {
			if member == nil {
				continue
			}
			seen := raft.NodeID(member.Leader())
			if seen == raft.None || (leader != raft.None && seen != leader) {
				agreed = false
				break
			}
			leader = seen
		}
		if agreed && leader != raft.None {
			for i, member := range c.members {
				if member != nil && member.id == leader {
					return i
				}
			}
		}
		time.Sleep(testHeartbeat) // polling a condition on real processes, bounded by the deadline
	}
	c.t.Fatal("no leader agreed on within 30 s")
	return -1
}

// follower returns the index of a running member that is not the leader.
func (c *testCluster) follower() int {
	leader := c.leader()
	for i, member := range c.members {
		if member != nil && i != leader {
			return i
		}
	}
	c.t.Fatal("no follower running")
	return -1
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
