// Package devcluster runs a small lockstep cluster inside one process, for
// lockstep dev and the browser tests: every member a server.Server on
// 127.0.0.1, with the controls the dashboard's buttons need (stop and
// restart a member, partition one away and heal, transfer leadership).
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/transport"
	"github.com/lockstepdb/lockstep/web"
	"github.com/lockstepdb/lockstep/web/serverview"
)

// Member names one member and its ports on 127.0.0.1.
type Member struct {
	Name                string
	Client, Peer, Admin int
}

// Config configures a Cluster.
type Config struct {
	Members []Member
	// DataDirectory holds one subdirectory per member; data survives a
	// restart of the member and of the cluster.
	DataDirectory string
	Logger        *slog.Logger
	// HeartbeatInterval and ElectionTimeout: 0 means the server's defaults.
	HeartbeatInterval, ElectionTimeout time.Duration
	// WALSegmentBytes: 0 means the server's default (tests use less, so
	// members start without zero-filling 64 MiB each).
	WALSegmentBytes int64
}

// Cluster is a running development cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	config Config
	faults *transport.FaultHook

	mu          sync.Mutex
	servers     []*server.Server // nil while stopped
	ids         []raft.NodeID    // known once the member first started
	partitioned []bool
}

// Start starts every member side by side and returns once all listen (the
// cluster may still be electing a leader). On error, the members that
// started are stopped.
func Start(config Config) (*Cluster, error) {
	c := &Cluster{
		config: config, faults: &transport.FaultHook{},
		servers: make([]*server.Server, len(config.Members)), ids: make([]raft.NodeID, len(config.Members)),
		partitioned: make([]bool, len(config.Members)),
	}
	errs := make([]error, len(config.Members))
	var group sync.WaitGroup
	for i := range config.Members {
		group.Go(func() { errs[i] = c.start(i) })
	}
	group.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// serverConfig is member i's configuration.
func (c *Cluster) serverConfig(i int) server.Config {
	cluster := map[string][]string{}
	for _, member := range c.config.Members {
		cluster[member.Name] = []string{fmt.Sprintf("http://127.0.0.1:%d", member.Peer)}
	}
	member := c.config.Members[i]
	return server.Config{
		Name: member.Name, DataDirectory: filepath.Join(c.config.DataDirectory, member.Name),
		ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", member.Client)},
		ListenPeerURLs:    cluster[member.Name],
		ListenMetricsURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", member.Admin)},
		InitialCluster:    cluster, InitialClusterToken: "lockstep-dev",
		HeartbeatInterval: c.config.HeartbeatInterval, ElectionTimeout: c.config.ElectionTimeout,
		WALSegmentBytes: c.config.WALSegmentBytes,
		Logger:          c.config.Logger, PeerFaults: c.faults,
	}
}

// start starts member i, which must be stopped.
func (c *Cluster) start(i int) error {
	started, err := server.Start(c.serverConfig(i))
	if err != nil {
		return fmt.Errorf("devcluster: start %s: %w", c.config.Members[i].Name, err)
	}
	serverview.Mount(started) // each member's admin listener shows it alone, as lockstep serve's does
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers[i], c.ids[i] = started, raft.NodeID(started.ID())
	return nil
}

// Stop stops every running member side by side, bounded by ctx.
func (c *Cluster) Stop(ctx context.Context) {
	c.mu.Lock()
	running := c.servers
	c.servers = make([]*server.Server, len(running))
	c.mu.Unlock()
	var group sync.WaitGroup
	for _, member := range running {
		if member != nil {
			// Side by side and without handover: every member is
			// stopping, so a handover could only fail, loudly.
			group.Go(func() { member.StopWithoutHandover(ctx) })
		}
	}
	group.Wait()
}

// Handler serves the whole cluster's dashboard, with buttons, at
// web.Prefix (and redirects / there).
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(web.Prefix, web.Handler(web.Options{Cluster: c, Control: c}))
	mux.Handle("GET /{$}", http.RedirectHandler(web.Prefix, http.StatusFound))
	return mux
}

// Server returns member i's server, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// index returns the position of the named member, or -1.
func (c *Cluster) index(name string) int {
	for i, member := range c.config.Members {
		if member.Name == name {
			return i
		}
	}
	return -1
}
