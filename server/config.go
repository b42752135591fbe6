package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	pebblevfs "github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lockstepdb/lockstep/vfs"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/transport"
)

// Config configures one lockstep server (one member of a cluster). Its
// fields mirror etcd's flags of the same meaning; cmd/lockstep maps the
// flags onto it.
type Config struct {
	// Name is this member's human-readable name, unique in the cluster.
	Name string
	// DataDirectory holds the Raft log, snapshots and the key-value store.
	DataDirectory string

	// ListenClientURLs are the URLs the etcd-API gRPC service listens on
	// (http:// or https://, host:port); AdvertiseClientURLs are the ones
	// published to the cluster and to clients (default: the listen URLs).
	ListenClientURLs    []string
	AdvertiseClientURLs []string
	// ListenClientHTTPURLs, as etcd's --listen-client-http-urls, serve the
	// client port's HTTP routes (/health, /metrics, the JSON gateway, ...)
	// on ports of their own; the ListenClientURLs then serve gRPC alone.
	// An https URL needs ClientTLS.
	ListenClientHTTPURLs []string
	// ListenPeerURLs is where peers' Raft traffic arrives (one URL);
	// AdvertisePeerURLs is how peers reach it (default: the listen URL).
	ListenPeerURLs    []string
	AdvertisePeerURLs []string
	// ListenMetricsURLs serve /metrics, /health, /livez, /readyz over HTTP;
	// empty means none.
	ListenMetricsURLs []string
	// GRPCKeepAliveMinTime, GRPCKeepAliveInterval and GRPCKeepAliveTimeout
	// are etcd's --grpc-keepalive-min-time, --grpc-keepalive-interval and
	// --grpc-keepalive-timeout for the client ports: the shortest interval
	// between a client's keepalive pings the server tolerates (a client
	// that pings more often is disconnected: too_many_pings), how long a
	// connection may be idle before the server pings it, and how long it
	// waits for the answer. 0 means etcd's defaults: 5 s, 2 h and 20 s.
	// Clients such as Kubernetes' API server ping every 30 s; gRPC's own
	// default (5 minutes) disconnected them.
	GRPCKeepAliveMinTime  time.Duration
	GRPCKeepAliveInterval time.Duration
	GRPCKeepAliveTimeout  time.Duration
	// EnablePprof, as etcd's --enable-pprof, serves Go's profiler under
	// /debug/pprof/ on the client ports' HTTP too (the metrics listeners
	// always serve it).
	EnablePprof bool

	// InitialCluster maps each initial member's name to its peer URLs.
	InitialCluster map[string][]string
	// InitialClusterState is "new" to bootstrap a cluster, "existing" to
	// join one this member was added to with MemberAdd.
	InitialClusterState string
	// InitialClusterToken makes the IDs of clusters bootstrapped from the
	// same InitialCluster different.
	InitialClusterToken string

	// HeartbeatInterval and ElectionTimeout are Raft's timing; the election
	// timeout must be a multiple of at least 5 heartbeats.
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	// SnapshotCount is the number of applied entries between snapshots.
	SnapshotCount int
	// KeepSnapshotImages makes every snapshot hold a whole image of the
	// store (node.Config.KeepSnapshotImages). By default a snapshot only
	// flushes the store, which keeps its own state, and the image is
	// written when a member that fell behind needs one.
	KeepSnapshotImages bool
	// WALSegmentBytes is the size of the write-ahead log's segment files,
	// each zero-filled when created (see wal.Options); 0 means the
	// runtime's default, 64 MiB. Tests use less to start quickly.
	WALSegmentBytes int64
	// BackendCacheBytes is the key-value store's block cache (see
	// kv.Options.CacheSize); 0 means kv's default, 16 MiB.
	BackendCacheBytes int64
	// CurrentIndexKeys is how many keys the store's in-memory index of
	// current versions holds (kv.Options.CurrentIndexKeys): 0 means kv's
	// default, 4,194,304; negative turns it off.
	CurrentIndexKeys int
	// QuotaBackendBytes is the store size above which writes are refused
	// with a NOSPACE alarm. 0 means the default, 2 GiB.
	QuotaBackendBytes int64
	// MaxRequestBytes bounds a client request; 0 means 1.5 MiB.
	MaxRequestBytes int
	// MaxTxnOps bounds the operations in one Txn; 0 means 128.
	MaxTxnOps int
	// WatchProgressNotifyInterval is how often a watch created with
	// progress_notify that sent no events meanwhile gets a progress
	// notification (an empty response at the revision it has delivered
	// up to); 0 means etcd's default, 10 minutes.
	WatchProgressNotifyInterval time.Duration
	// AutoCompaction has the leader compact the store's history by
	// itself, as etcd's --auto-compaction-mode and
	// --auto-compaction-retention (see ParseAutoCompaction); the zero
	// value, the default, leaves compaction to clients.
	AutoCompaction AutoCompaction
	// CorruptCheckInterval, as etcd's --corrupt-check-time, has the leader
	// compare every member's hash of the store that often, and raise a
	// CORRUPT alarm for a member whose data differ (corruption_check.go);
	// 0, the default, checks nothing. At least 1 s.
	CorruptCheckInterval time.Duration
	// InitialCorruptCheck, as etcd's feature gate of that name, has a
	// member that starts on existing data compare its hash with its
	// peers' first, and refuse to start if one differs.
	InitialCorruptCheck bool
	// BcryptCost is the cost of the bcrypt hashes of users' passwords, as
	// etcd's --bcrypt-cost; 0 means bcrypt.DefaultCost (10).
	BcryptCost int
	// AuthTokenTTL is how long a simple token lives after its last use,
	// as etcd's --auth-token-ttl; 0 means 300 s.
	AuthTokenTTL time.Duration
	// AuthToken is the kind of auth token, in etcd's --auth-token syntax
	// (see kv.ParseAuthToken): "simple", or
	// "jwt,pub-key=PATH,priv-key=PATH,sign-method=METHOD,ttl=DURATION";
	// "" means simple. The key files are read when the configuration is
	// validated and again when the server starts.
	AuthToken string

	// ClientTLS, if set, serves clients over TLS (and with ClientCAs set,
	// requires client certificates). PeerTLS, if set, secures the peer
	// transport, with mutual TLS when ClientCAs is set.
	//
	// With ClientTLS.ClientAuth tls.RequireAndVerifyClientCert (etcd's
	// --client-cert-auth) and auth enabled, the verified client
	// certificate's Common Name is the user of a call without a token,
	// as in etcd. A follower forwards such a call to the leader as a
	// member, presenting its peer certificate (PeerTLS.Certificates[0])
	// on the leader's client port: that needs PeerTLS.ClientAuth
	// tls.RequireAndVerifyClientCert on every member, and ClientCAs
	// trusting the peer CA too (lockstep serve adds
	// --peer-trusted-ca-file to them); RootCAs, if set, is what a
	// follower verifies the leader's client certificate with (default
	// ClientCAs).
	ClientTLS *tls.Config
	PeerTLS   *tls.Config
	// PeerCertAllowedCN and PeerCertAllowedHostname, as etcd's
	// --peer-cert-allowed-cn and --peer-cert-allowed-hostname (at most one
	// of them, and only with PeerTLS requiring client certificates): a
	// peer connecting to this member must present a certificate with that
	// Common Name, or valid for that host name, or it is refused.
	PeerCertAllowedCN       string
	PeerCertAllowedHostname string
	// ForwardTLS is what a follower uses to dial the leader's client URL
	// when it forwards a request; default: built from ClientTLS's CA.
	ForwardTLS *tls.Config

	// Logger receives the server's logs; nil uses slog.Default().
	Logger *slog.Logger

	// PeerFaults, if set, injects faults into the peer transport (lockstep
	// dev's partition button, tests); nil injects none.
	PeerFaults *transport.FaultHook

	// StoreFileSystem, if set, replaces the file system the key-value
	// store's Pebble uses (fault injection in tests: a full disk); nil
	// uses the operating system's.
	StoreFileSystem pebblevfs.FS
	// LogFileSystem, if set, replaces the file system of the Raft log and
	// snapshots (fault injection in tests: a failed fsync); nil uses the
	// operating system's.
	LogFileSystem vfs.FS
}

// Defaults.
const (
	DefaultMaxRequestBytes = kv.DefaultMaxRequestBytes
	DefaultMaxTxnOps       = 128
	// The client ports' gRPC keepalive, etcd's defaults.
	DefaultGRPCKeepAliveMinTime  = 5 * time.Second
	DefaultGRPCKeepAliveInterval = 2 * time.Hour
	DefaultGRPCKeepAliveTimeout  = 20 * time.Second
	// DefaultWatchProgressNotifyInterval is etcd's default.
	DefaultWatchProgressNotifyInterval = 10 * time.Minute
	DefaultQuotaBackendBytes           = 2 << 30
	// DefaultSnapshotCount is etcd's default. A snapshot flushes the
	// whole store (and with KeepSnapshotImages writes an image of it), so
	// taking one often costs more than the log it frees.
	DefaultSnapshotCount = 100000
)

func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 100 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = 1000 * time.Millisecond
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.GRPCKeepAliveMinTime == 0 {
		c.GRPCKeepAliveMinTime = DefaultGRPCKeepAliveMinTime
	}
	if c.GRPCKeepAliveInterval == 0 {
		c.GRPCKeepAliveInterval = DefaultGRPCKeepAliveInterval
	}
	if c.GRPCKeepAliveTimeout == 0 {
		c.GRPCKeepAliveTimeout = DefaultGRPCKeepAliveTimeout
	}
	if c.WatchProgressNotifyInterval == 0 {
		c.WatchProgressNotifyInterval = DefaultWatchProgressNotifyInterval
	}
	if c.InitialClusterState == "" {
		c.InitialClusterState = "new"
	}
	if c.InitialClusterToken == "" {
		c.InitialClusterToken = "lockstep-cluster"
	}
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	if len(c.AdvertisePeerURLs) == 0 {
		c.AdvertisePeerURLs = c.ListenPeerURLs
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first thing wrong with the configuration, in terms
// of the flags an operator sets.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Name == "" {
		return errors.New("--name must not be empty")
	}
	if c.DataDirectory == "" {
		return errors.New("--data-dir must not be empty")
	}
	for _, list := range []struct {
		flag string
		urls []string
	}{
		{"--listen-client-urls", c.ListenClientURLs}, {"--advertise-client-urls", c.AdvertiseClientURLs},
		{"--listen-peer-urls", c.ListenPeerURLs}, {"--initial-advertise-peer-urls", c.AdvertisePeerURLs},
		{"--listen-metrics-urls", c.ListenMetricsURLs}, {"--listen-client-http-urls", c.ListenClientHTTPURLs},
	} {
		if len(list.urls) == 0 && list.flag != "--listen-metrics-urls" && list.flag != "--listen-client-http-urls" {
			return fmt.Errorf("%s must name at least one URL", list.flag)
		}
		for _, raw := range list.urls {
			if _, err := hostPort(raw); err != nil {
				return fmt.Errorf("%s: %w", list.flag, err)
			}
		}
	}
	if c.PeerCertAllowedCN != "" || c.PeerCertAllowedHostname != "" {
		switch {
		case c.PeerCertAllowedCN != "" && c.PeerCertAllowedHostname != "":
			return errors.New("--peer-cert-allowed-cn and --peer-cert-allowed-hostname cannot both be set")
		case c.PeerTLS == nil || c.PeerTLS.ClientAuth != tls.RequireAndVerifyClientCert:
			return errors.New("--peer-cert-allowed-cn and --peer-cert-allowed-hostname need --peer-client-cert-auth (with --peer-cert-file, --peer-key-file and --peer-trusted-ca-file)")
		}
	}
	for _, raw := range c.ListenClientHTTPURLs {
		if strings.HasPrefix(raw, "https://") && c.ClientTLS == nil {
			return fmt.Errorf("--listen-client-http-urls: %s is https but --cert-file and --key-file are not set", raw)
		}
	}
	if len(c.ListenPeerURLs) != 1 {
		return fmt.Errorf("--listen-peer-urls: lockstep listens for peers on exactly one URL, got %d", len(c.ListenPeerURLs))
	}
	if c.InitialClusterState != "new" && c.InitialClusterState != "existing" {
		return fmt.Errorf("--initial-cluster-state must be new or existing, not %q", c.InitialClusterState)
	}
	if len(c.InitialCluster) == 0 {
		return errors.New("--initial-cluster must name at least this member")
	}
	own, ok := c.InitialCluster[c.Name]
	if !ok {
		return fmt.Errorf("--initial-cluster has no member named %q (the --name of this member)", c.Name)
	}
	if !sameURLs(own, c.AdvertisePeerURLs) {
		return fmt.Errorf("--initial-cluster gives %s the peer URLs %v, but --initial-advertise-peer-urls is %v", c.Name, own, c.AdvertisePeerURLs)
	}
	seen := map[string]string{}
	for name, urls := range c.InitialCluster {
		if len(urls) == 0 {
			return fmt.Errorf("--initial-cluster: member %q has no peer URL", name)
		}
		for _, raw := range urls {
			if _, err := hostPort(raw); err != nil {
				return fmt.Errorf("--initial-cluster: member %q: %w", name, err)
			}
			if other, dup := seen[raw]; dup && other != name {
				return fmt.Errorf("--initial-cluster: peer URL %s is given to both %q and %q", raw, other, name)
			}
			seen[raw] = name
		}
	}
	if c.HeartbeatInterval < time.Millisecond {
		return fmt.Errorf("--heartbeat-interval must be at least 1 ms, got %v", c.HeartbeatInterval)
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval {
		return fmt.Errorf("--election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.MaxRequestBytes < 0 || c.MaxTxnOps < 0 || c.QuotaBackendBytes < 0 || c.SnapshotCount < 0 || c.BackendCacheBytes < 0 || c.WALSegmentBytes < 0 {
		return errors.New("--max-request-bytes, --max-txn-ops, --quota-backend-bytes, --snapshot-count, --backend-cache-bytes and --wal-segment-bytes must not be negative")
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if c.GRPCKeepAliveMinTime < 0 || c.GRPCKeepAliveInterval < 0 || c.GRPCKeepAliveTimeout < 0 {
		return errors.New("--grpc-keepalive-min-time, --grpc-keepalive-interval and --grpc-keepalive-timeout must not be negative")
	}
	if c.WatchProgressNotifyInterval < 0 {
		return fmt.Errorf("--watch-progress-notify-interval must not be negative, got %v", c.WatchProgressNotifyInterval)
	}
	if c.CorruptCheckInterval < 0 || (c.CorruptCheckInterval > 0 && c.CorruptCheckInterval < minimumCorruptCheckInterval) {
		return fmt.Errorf("--corrupt-check-time must be 0 (no checks) or at least %v, got %v", minimumCorruptCheckInterval, c.CorruptCheckInterval)
	}
	return c.AutoCompaction.validate()
}

// ParseInitialCluster parses etcd's --initial-cluster syntax:
// "name1=http://10.0.0.1:2380,name2=http://10.0.0.2:2380" (a name may be
// given several URLs by repeating it).
func ParseInitialCluster(flag string) (map[string][]string, error) {
	cluster := map[string][]string{}
	for _, item := range strings.Split(flag, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, raw, ok := strings.Cut(item, "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("--initial-cluster: %q is not name=URL", item)
		}
		if _, err := hostPort(raw); err != nil {
			return nil, fmt.Errorf("--initial-cluster: %w", err)
		}
		cluster[name] = append(cluster[name], raw)
	}
	if len(cluster) == 0 {
		return nil, errors.New("--initial-cluster is empty")
	}
	return cluster, nil
}

// hostPort checks that raw is an http or https URL with a host and port
// and nothing else, and returns host:port.
func hostPort(raw string) (string, error) {
	parsed, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("URL %q: %v", raw, err)
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if parsed.Port() == "" || parsed.Hostname() == "" {
		return "", fmt.Errorf("URL %q: want scheme://host:port", raw)
	}
	if parsed.Path != "" && parsed.Path != "/" || parsed.RawQuery != "" {
		return "", fmt.Errorf("URL %q: must not have a path or query", raw)
	}
	return parsed.Host, nil
}

func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
