package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/web/serverview"
)

func init() { register(newServeCommand) }

// serveFlags are `lockstep serve`'s flags, named as etcd names them.
type serveFlags struct {
	name, dataDir                               string
	listenClient, advertiseClient               string
	listenClientHTTP                            string
	listenPeer, advertisePeer, listenMetrics    string
	initialCluster, initialState, initialToken  string
	heartbeatMillis, electionMillis             int
	snapshotCount, maxRequestBytes, maxTxnOps   int
	currentIndexKeys                            int
	quotaBytes, cacheBytes, walSegmentBytes     int64
	watchProgressInterval                       time.Duration
	keepAliveMinTime, keepAliveInterval         time.Duration
	keepAliveTimeout                            time.Duration
	autoCompactionMode, autoCompactionRetention string
	corruptCheckTime                            time.Duration
	featureGates, configFile                    string
	certFile, keyFile, trustedCA                string
	clientCertAuth                              bool
	peerCertFile, peerKeyFile, peerTrustedCA    string
	peerClientCertAuth                          bool
	peerAllowedCN, peerAllowedHostname          string
	logFormat, logLevel                         string
	dryRun, keepSnapshotImages, enablePprof     bool
	bcryptCost, authTokenTTLSeconds             int
	authToken                                   string
}

func newServeCommand() *cobra.Command { return newServeCommandWith(&serveFlags{}) }

// newServeCommandWith builds the command around flags (tests inspect them).
func newServeCommandWith(flags *serveFlags) *cobra.Command {
	command := &cobra.Command{
		Use:   "serve",
		Short: "Run a member of a replicated key-value store that speaks the etcd v3 API",
		Long: `serve runs one member of a lockstep cluster. Flags are named as etcd names them;
each can also be set with an environment variable LOCKSTEP_<FLAG> or, as for etcd,
ETCD_<FLAG> (for example LOCKSTEP_INITIAL_CLUSTER or ETCD_INITIAL_CLUSTER for
--initial-cluster), so the environment that etcdctl member add prints starts the
new member. A flag on the command line wins over both; LOCKSTEP_ wins over ETCD_.
A variable of either prefix that names no flag is warned about.`,
		Args: cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			var commandLine []string
			command.Flags().Visit(func(flag *pflag.Flag) { commandLine = append(commandLine, flag.Name) })
			flags := flags
			warnings, err := applyEnvironment(command.Flags(), os.Environ(), command.Flags())
			switch {
			case err == nil && flags.configFile != "":
				// From the command line, LOCKSTEP_CONFIG_FILE or ETCD_CONFIG_FILE.
				flags, warnings, err = flagsFromConfigFile(commandLine, flags, os.Environ())
			case err == nil:
				var ignored []string
				ignored, err = etcdOnlySettings(command.Flags())
				warnings = append(warnings, ignored...)
			}
			if err != nil {
				return &exitError{code: 2, message: err.Error()}
			}
			config, err := flags.config(command.ErrOrStderr())
			if err != nil {
				printWarnings(command.ErrOrStderr(), warnings)
				return &exitError{code: 2, message: err.Error()}
			}
			if flags.dryRun {
				printWarnings(command.ErrOrStderr(), warnings)
				return printDryRun(command.OutOrStdout(), config)
			}
			for _, warning := range warnings {
				config.Logger.Warn(warning)
			}
			return serve(command.Context(), config)
		},
	}
	f := command.Flags()
	addMemberFlags(f, flags)
	f.StringVar(&flags.listenClient, "listen-client-urls", "http://localhost:2379", "URLs to listen on for client traffic")
	f.StringVar(&flags.advertiseClient, "advertise-client-urls", "", "client URLs published to the cluster (default: --listen-client-urls)")
	f.StringVar(&flags.listenClientHTTP, "listen-client-http-urls", "", "URLs to serve the client port's HTTP routes on (/health, /metrics, the JSON gateway); the client URLs then serve gRPC alone")
	f.BoolVar(&flags.enablePprof, "enable-pprof", false, "serve Go's profiler under /debug/pprof/ on the client ports too (the metrics listeners always do)")
	f.StringVar(&flags.listenPeer, "listen-peer-urls", "http://localhost:2380", "URL to listen on for peer traffic")
	f.StringVar(&flags.listenMetrics, "listen-metrics-urls", "", "URLs to serve /metrics, /health, /livez and /readyz on")
	f.StringVar(&flags.initialState, "initial-cluster-state", "new", "new to bootstrap a cluster, existing to join one")
	f.IntVar(&flags.heartbeatMillis, "heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval")
	f.IntVar(&flags.electionMillis, "election-timeout", 1000, "time (in milliseconds) for an election to time out")
	f.IntVar(&flags.snapshotCount, "snapshot-count", server.DefaultSnapshotCount, "number of committed entries between snapshots")
	f.BoolVar(&flags.keepSnapshotImages, "keep-snapshot-images", false, "write a whole image of the store at every snapshot, not only when a member that fell behind needs one")
	f.Int64Var(&flags.quotaBytes, "quota-backend-bytes", server.DefaultQuotaBackendBytes, "store size above which writes are refused (NOSPACE alarm)")
	f.Int64Var(&flags.cacheBytes, "backend-cache-bytes", 0, "the key-value store's block cache in bytes (0: 16 MiB; the OS page cache holds more)")
	f.IntVar(&flags.currentIndexKeys, "current-index-keys", 0, "live keys whose current version's metadata the store keeps in memory, so that a put of one reads nothing (0: 4,194,304, about 67 bytes and the key's length each for the keys a store has; negative: none)")
	f.Int64Var(&flags.walSegmentBytes, "wal-segment-bytes", 0, "size of the Raft log's segment files, each zero-filled when made (0: 64 MiB); smaller for a small disk, which must keep about three free")
	f.IntVar(&flags.maxRequestBytes, "max-request-bytes", server.DefaultMaxRequestBytes, "maximum client request size in bytes")
	f.IntVar(&flags.maxTxnOps, "max-txn-ops", server.DefaultMaxTxnOps, "maximum number of operations in one transaction")
	f.DurationVar(&flags.watchProgressInterval, "watch-progress-notify-interval", server.DefaultWatchProgressNotifyInterval, "how often a watch with progress_notify and no events gets a progress notification")
	f.StringVar(&flags.autoCompactionMode, "auto-compaction-mode", server.AutoCompactionPeriodic, "how --auto-compaction-retention counts: periodic (a duration, or whole hours) or revision (a number of revisions)")
	f.StringVar(&flags.autoCompactionRetention, "auto-compaction-retention", "0", "history the leader keeps when it compacts by itself (0: it never does): periodic mode, for example 1h or 30m (compacting every hour or period, whichever is shorter); revision mode, for example 10000 (compacting every 5 minutes)")
	f.DurationVar(&flags.corruptCheckTime, "corrupt-check-time", 0, "how often the leader compares every member's hash of the store, raising a CORRUPT alarm for a member whose data differ (0: never; at least 1s)")
	f.StringVar(&flags.featureGates, "feature-gates", "", "etcd's feature gates, Name=true|false,...: InitialCorruptCheck=true has a member starting on existing data compare it with its peers' first; etcd's others are accepted at their defaults")
	f.DurationVar(&flags.keepAliveMinTime, "grpc-keepalive-min-time", server.DefaultGRPCKeepAliveMinTime, "the shortest interval between a client's keepalive pings the client ports tolerate")
	f.DurationVar(&flags.keepAliveInterval, "grpc-keepalive-interval", server.DefaultGRPCKeepAliveInterval, "how long a client connection may be idle before the server pings it")
	f.DurationVar(&flags.keepAliveTimeout, "grpc-keepalive-timeout", server.DefaultGRPCKeepAliveTimeout, "how long the server waits for the answer to its ping before it closes the connection")
	f.StringVar(&flags.certFile, "cert-file", "", "client server TLS certificate file")
	f.StringVar(&flags.keyFile, "key-file", "", "client server TLS key file")
	f.StringVar(&flags.trustedCA, "trusted-ca-file", "", "client server TLS trusted CA file (for --client-cert-auth)")
	f.BoolVar(&flags.clientCertAuth, "client-cert-auth", false, "require clients to present a certificate signed by --trusted-ca-file; with auth enabled, its Common Name is the user of a call without a token")
	f.StringVar(&flags.peerCertFile, "peer-cert-file", "", "peer TLS certificate file")
	f.StringVar(&flags.peerKeyFile, "peer-key-file", "", "peer TLS key file")
	f.StringVar(&flags.peerTrustedCA, "peer-trusted-ca-file", "", "peer TLS trusted CA file")
	f.BoolVar(&flags.peerClientCertAuth, "peer-client-cert-auth", false, "require peers to present a certificate signed by --peer-trusted-ca-file")
	f.StringVar(&flags.peerAllowedCN, "peer-cert-allowed-cn", "", "refuse a peer whose client certificate does not have this Common Name (needs --peer-client-cert-auth)")
	f.StringVar(&flags.peerAllowedHostname, "peer-cert-allowed-hostname", "", "refuse a peer whose client certificate is not valid for this host name (needs --peer-client-cert-auth)")
	f.IntVar(&flags.bcryptCost, "bcrypt-cost", 10, "cost of the bcrypt hashes of users' passwords (4 to 31)")
	f.IntVar(&flags.authTokenTTLSeconds, "auth-token-ttl", 300, "seconds a simple auth token lives after its last use")
	f.StringVar(&flags.authToken, "auth-token", "simple", "kind of auth token: simple, or jwt,pub-key=PATH,priv-key=PATH,sign-method=METHOD,ttl=DURATION "+
		"(METHOD: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA; ttl default 5m; without priv-key the member verifies tokens but issues none)")
	f.StringVar(&flags.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&flags.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&flags.configFile, "config-file", "", "an etcd configuration file (YAML, etcd's keys); as with etcd, the other flags and the environment are then ignored")
	f.BoolVar(&flags.dryRun, "dry-run", false, "check the flags, environment and TLS files, print the configuration and exit without starting")
	addEtcdOnlyFlags(f)
	return command
}

// addMemberFlags registers the flags that say who a member is and in which
// cluster, shared by serve and snapshot restore (which must be given the
// same values).
func addMemberFlags(f *pflag.FlagSet, flags *serveFlags) {
	f.StringVar(&flags.name, "name", "default", "human-readable name of this member")
	f.StringVar(&flags.dataDir, "data-dir", "", "path to the data directory (default ${name}.lockstep)")
	f.StringVar(&flags.advertisePeer, "initial-advertise-peer-urls", "", "peer URLs published to the cluster (default: --listen-peer-urls)")
	f.StringVar(&flags.initialCluster, "initial-cluster", "", "initial cluster: name=peerURL,... (default ${name}=${initial-advertise-peer-urls})")
	f.StringVar(&flags.initialToken, "initial-cluster-token", "etcd-cluster", "token that makes cluster and member IDs unique")
}

// printWarnings writes warnings found before a logger exists.
func printWarnings(output io.Writer, warnings []string) {
	for _, warning := range warnings {
		fmt.Fprintln(output, "lockstep: warning:", warning)
	}
}

func splitURLs(list string) []string {
	var urls []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			urls = append(urls, item)
		}
	}
	return urls
}

// config turns the flags into a server configuration, refusing
// contradictions with a message that names the flags.
func (f *serveFlags) config(logOutput io.Writer) (server.Config, error) {
	if f.dataDir == "" {
		f.dataDir = f.name + ".lockstep"
	}
	if f.advertisePeer == "" {
		f.advertisePeer = f.listenPeer
	}
	if f.initialCluster == "" {
		f.initialCluster = f.name + "=" + f.advertisePeer
	}
	cluster, err := server.ParseInitialCluster(f.initialCluster)
	if err != nil {
		return server.Config{}, err
	}
	logger, err := newLogger(logOutput, f.logFormat, f.logLevel)
	if err != nil {
		return server.Config{}, err
	}
	config := server.Config{
		Name: f.name, DataDirectory: f.dataDir,
		ListenClientURLs: splitURLs(f.listenClient), AdvertiseClientURLs: splitURLs(f.advertiseClient), ListenClientHTTPURLs: splitURLs(f.listenClientHTTP),
		ListenPeerURLs: splitURLs(f.listenPeer), AdvertisePeerURLs: splitURLs(f.advertisePeer),
		ListenMetricsURLs: splitURLs(f.listenMetrics), EnablePprof: f.enablePprof,
		InitialCluster: cluster, InitialClusterState: f.initialState, InitialClusterToken: f.initialToken,
		HeartbeatInterval: time.Duration(f.heartbeatMillis) * time.Millisecond,
		ElectionTimeout:   time.Duration(f.electionMillis) * time.Millisecond,
		SnapshotCount:     f.snapshotCount, KeepSnapshotImages: f.keepSnapshotImages,
		QuotaBackendBytes: f.quotaBytes, BackendCacheBytes: f.cacheBytes, CurrentIndexKeys: f.currentIndexKeys,
		WALSegmentBytes: f.walSegmentBytes,
		MaxRequestBytes: f.maxRequestBytes, MaxTxnOps: f.maxTxnOps, WatchProgressNotifyInterval: f.watchProgressInterval,
		GRPCKeepAliveMinTime: f.keepAliveMinTime, GRPCKeepAliveInterval: f.keepAliveInterval, GRPCKeepAliveTimeout: f.keepAliveTimeout,
		PeerCertAllowedCN: f.peerAllowedCN, PeerCertAllowedHostname: f.peerAllowedHostname,
		BcryptCost: f.bcryptCost, AuthTokenTTL: time.Duration(f.authTokenTTLSeconds) * time.Second, AuthToken: f.authToken,
		Logger: logger,
	}
	if config.AutoCompaction, err = server.ParseAutoCompaction(f.autoCompactionMode, f.autoCompactionRetention); err != nil {
		return server.Config{}, err
	}
	config.CorruptCheckInterval = f.corruptCheckTime
	if err := server.ApplyFeatureGates(&config, f.featureGates); err != nil {
		return server.Config{}, err
	}
	if config.ClientTLS, err = serverTLS("", f.certFile, f.keyFile, f.trustedCA, f.clientCertAuth); err != nil {
		return server.Config{}, err
	}
	if config.PeerTLS, err = serverTLS("peer-", f.peerCertFile, f.peerKeyFile, f.peerTrustedCA, f.peerClientCertAuth); err != nil {
		return server.Config{}, err
	}
	if config.PeerTLS != nil && config.PeerTLS.ClientCAs != nil {
		config.PeerTLS.RootCAs = config.PeerTLS.ClientCAs
	}
	if f.clientCertAuth && f.peerClientCertAuth {
		// A follower forwards a call made as a client certificate's user
		// to the leader's client port presenting its peer certificate
		// (server/auth_certificate.go): the client port accepts
		// certificates of the peer CA too. Clients still verify the
		// server with --trusted-ca-file alone.
		if config.ClientTLS.ClientCAs, err = trustedPool(caFile{"--trusted-ca-file", f.trustedCA}, caFile{"--peer-trusted-ca-file", f.peerTrustedCA}); err != nil {
			return server.Config{}, err
		}
	}
	for _, list := range [][]string{config.ListenClientURLs, config.AdvertiseClientURLs} {
		for _, url := range list {
			if strings.HasPrefix(url, "https://") && config.ClientTLS == nil {
				return server.Config{}, fmt.Errorf("client URL %s is https but --cert-file and --key-file are not set", url)
			}
		}
	}
	if err := config.Validate(); err != nil {
		return server.Config{}, err
	}
	return config, nil
}

// serverTLS builds a TLS configuration from etcd-style flags (prefix is
// "" for client flags, "peer-" for peer flags); nil when none are set.
func serverTLS(prefix, certFile, keyFile, caPath string, requireClientCerts bool) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if caPath != "" || requireClientCerts {
			return nil, fmt.Errorf("--%strusted-ca-file and --%sclient-cert-auth need --%scert-file and --%skey-file", prefix, prefix, prefix, prefix)
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("--%scert-file and --%skey-file must be given together", prefix, prefix)
	}
	certificate, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--%scert-file/--%skey-file: %v", prefix, prefix, err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{certificate}, MinVersion: tls.VersionTLS12}
	if caPath != "" {
		pool, err := trustedPool(caFile{"--" + prefix + "trusted-ca-file", caPath})
		if err != nil {
			return nil, err
		}
		config.ClientCAs = pool
		config.RootCAs = pool
	}
	if requireClientCerts {
		if config.ClientCAs == nil {
			return nil, fmt.Errorf("--%sclient-cert-auth needs --%strusted-ca-file", prefix, prefix)
		}
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return config, nil
}

// caFile is a file of trusted CA certificates, and the flag that named it.
type caFile struct{ flag, path string }

// trustedPool reads the CA certificates of files into one pool.
func trustedPool(files ...caFile) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, file := range files {
		pem, err := os.ReadFile(file.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file.flag, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s holds no PEM certificate", file.flag, file.path)
		}
	}
	return pool, nil
}

func newLogger(output io.Writer, format, level string) (*slog.Logger, error) {
	var slogLevel slog.Level
	if err := slogLevel.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	options := &slog.HandlerOptions{Level: slogLevel}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(output, options)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(output, options)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// serve runs a member until SIGINT or SIGTERM, then stops it gracefully
// (a leader hands over first), or until it learns it was removed from the
// cluster, which is an error (exit status 1).
func serve(ctx context.Context, config server.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	member, err := server.Start(config)
	if err != nil {
		return &exitError{code: 1, message: err.Error()}
	}
	serverview.Mount(member) // the member's dashboard, on its --listen-metrics-urls
	select {
	case <-ctx.Done():
	case <-member.Removed():
		// As etcd does: a removed member can never serve again under its
		// ID, so it exits non-zero for its supervisor to notice (it logged
		// why).
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		member.Stop(shutdown)
		return &exitError{code: 1, message: fmt.Sprintf("member %s (%x) has been permanently removed from the cluster: remove its data directory %s before adding it back", config.Name, member.ID(), config.DataDirectory)}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return member.Stop(shutdown)
}
