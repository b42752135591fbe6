package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/check/proxy"
	"github.com/lockstepdb/lockstep/internal/freeport"
)

// ErrNotManaged is returned by process and network operations on a cluster
// the checker attached to rather than started.
var ErrNotManaged = errors.New("cluster: not started by the checker (attached by --endpoints): no process or network control")

// Config describes a cluster to start.
type Config struct {
	// System is the member binary; it must be resolved (System.Resolve).
	System System
	// Size is the number of members (3 or 5, typically).
	Size int
	// Directory holds each member's data directory and log file.
	Directory string
	// DiskBytes, if positive, puts each member's data directory on a tmpfs
	// of its own of this size (Linux, root only), so that a fault can fill
	// one member's disk (FillDisk); lockstep members then get small Raft
	// log segments (DiskWALSegmentBytes). Start fails with ErrNoDisks if a
	// mount fails. Close unmounts them.
	DiskBytes int64
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Cluster is a set of members and the clients and proxies that reach them.
// Its methods are safe for concurrent use, but the checker drives process
// and membership changes from one goroutine (the fault injector) at a time.
type Cluster struct {
	system  System
	members []*Member
	network *proxy.Network
	managed bool
	logger  *slog.Logger

	clientsMutex sync.Mutex
	clients      map[string]*clientv3.Client
}

// startupTimeout bounds how long a fresh cluster may take to serve reads.
const startupTimeout = 60 * time.Second

// Start creates Size members with fresh data directories, a proxy in front
// of each peer port, starts them all and waits until each serves a
// linearizable read. On error everything started is stopped again.
func Start(ctx context.Context, config Config) (*Cluster, error) {
	if config.Size < 1 {
		return nil, fmt.Errorf("cluster: size %d: need at least one member", config.Size)
	}
	cluster := newCluster(config.System, true, config.Logger)
	if err := cluster.create(config); err != nil {
		cluster.Close()
		return nil, err
	}
	if config.DiskBytes > 0 {
		if err := cluster.mountDisks(config.DiskBytes); err != nil {
			cluster.Close()
			return nil, err
		}
		cluster.system.WALSegmentBytes = DiskWALSegmentBytes
		cluster.logger.Info("members on disks of their own", "tmpfs bytes", config.DiskBytes)
	}
	for _, member := range cluster.members {
		if err := member.start(cluster.system); err != nil {
			cluster.Close()
			return nil, err
		}
		cluster.logger.Info("member started", "member", member.Name, "pid", member.PID(),
			"client", member.ClientURL, "peer", member.PeerURL)
	}
	ready, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := cluster.WaitHealthy(ready); err != nil {
		cluster.Close()
		return nil, fmt.Errorf("cluster: start: %w", err)
	}
	return cluster, nil
}

func newCluster(system System, managed bool, logger *slog.Logger) *Cluster {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Cluster{system: system, managed: managed, logger: logger, network: proxy.NewNetwork(),
		clients: map[string]*clientv3.Client{}}
}

// create lays out the members: ports, proxies, directories, flags.
func (cluster *Cluster) create(config Config) error {
	identify := proxy.ProcessIdentifier(cluster.processes)
	var initialCluster []string
	for index := range config.Size {
		name := fmt.Sprintf("member-%d", index+1)
		clientPort, err := freePort()
		if err != nil {
			return err
		}
		peerPort, err := freePort()
		if err != nil {
			return err
		}
		listenPeer := fmt.Sprintf("127.0.0.1:%d", peerPort)
		peerProxy, err := proxy.New("127.0.0.1:0", listenPeer, identify)
		if err != nil {
			return err
		}
		cluster.network.Add(name, peerProxy)
		directory := filepath.Join(config.Directory, name)
		if err := os.MkdirAll(directory, 0o755); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		member := &Member{
			Name:          name,
			ClientURL:     fmt.Sprintf("http://127.0.0.1:%d", clientPort),
			PeerURL:       "http://" + peerProxy.Address(),
			DataDirectory: filepath.Join(directory, "data"),
			listenPeerURL: "http://" + listenPeer,
			logPath:       filepath.Join(directory, "member.log"),
			clusterState:  "new",
		}
		cluster.members = append(cluster.members, member)
		initialCluster = append(initialCluster, name+"="+member.PeerURL)
	}
	for _, member := range cluster.members {
		member.initialCluster = strings.Join(initialCluster, ",")
	}
	return nil
}

// freePort returns a loopback port for a member (see internal/freeport).
func freePort() (int, error) {
	port, err := freeport.Port()
	if err != nil {
		return 0, fmt.Errorf("cluster: find a free port: %w", err)
	}
	return port, nil
}

// processes maps the PID of each running member to its name, for the
// proxies to tell peers apart.
func (cluster *Cluster) processes() map[int]string {
	running := map[int]string{}
	for _, member := range cluster.members {
		if pid := member.PID(); pid != 0 {
			running[pid] = member.Name
		}
	}
	return running
}

// Managed reports whether the checker started the cluster (and so controls
// its processes and network).
func (cluster *Cluster) Managed() bool { return cluster.managed }

// Members returns the members in name order.
func (cluster *Cluster) Members() []*Member { return cluster.members }

// Member returns the member called name, or nil.
func (cluster *Cluster) Member(name string) *Member {
	for _, member := range cluster.members {
		if member.Name == name {
			return member
		}
	}
	return nil
}

// Endpoints returns every member's client URL.
func (cluster *Cluster) Endpoints() []string {
	endpoints := make([]string, len(cluster.members))
	for index, member := range cluster.members {
		endpoints[index] = member.ClientURL
	}
	return endpoints
}

// Network returns the proxies in front of the members' peer ports.
func (cluster *Cluster) Network() *proxy.Network { return cluster.network }

// LogPaths returns each member's log file (empty for an attached cluster).
func (cluster *Cluster) LogPaths() map[string]string {
	paths := map[string]string{}
	for _, member := range cluster.members {
		if member.logPath != "" {
			paths[member.Name] = member.logPath
		}
	}
	return paths
}

// UnexpectedExits returns every unexpected member exit seen so far.
func (cluster *Cluster) UnexpectedExits() []string {
	var exits []string
	for _, member := range cluster.members {
		exits = append(exits, member.UnexpectedExits()...)
	}
	return exits
}

// Close kills every member process (by process group), unmounts the
// members' disks, closes the clients and the proxies. Safe to call more
// than once and on a partly started cluster.
func (cluster *Cluster) Close() error {
	var errs []error
	if cluster.managed {
		for _, member := range cluster.members {
			if err := member.kill(context.Background()); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, cluster.unmountDisks())
	}
	cluster.clientsMutex.Lock()
	for endpoint, client := range cluster.clients {
		client.Close()
		delete(cluster.clients, endpoint)
	}
	cluster.clientsMutex.Unlock()
	if err := cluster.network.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
