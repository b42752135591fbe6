package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/server"
)

// printDryRun reports the configuration serve --dry-run checked, without
// binding a port or touching the data directory: operators check a systemd
// environment file or a Kubernetes manifest with it, and the manifests'
// tests (deploy/kubernetes/validate) run it on every container's arguments.
func printDryRun(out io.Writer, config server.Config) error {
	names := make([]string, 0, len(config.InitialCluster))
	for name := range config.InitialCluster {
		names = append(names, name)
	}
	slices.Sort(names)
	members := make([]string, len(names))
	for i, name := range names {
		members[i] = name + "=" + strings.Join(config.InitialCluster[name], ",")
	}
	advertiseClient := config.AdvertiseClientURLs
	if len(advertiseClient) == 0 {
		advertiseClient = config.ListenClientURLs
	}
	dataState, err := dataDirectoryState(config.DataDirectory)
	if err != nil {
		return &exitError{code: 2, message: err.Error()}
	}
	lines := [][2]string{
		{"name", config.Name},
		{"data dir", config.DataDirectory + " (" + dataState + ")"},
		{"initial cluster", strings.Join(members, ",")},
		{"cluster state", config.InitialClusterState},
		{"cluster token", config.InitialClusterToken},
		{"client URLs", "listen " + strings.Join(config.ListenClientURLs, ",") + ", advertise " + strings.Join(advertiseClient, ",")},
		{"peer URLs", "listen " + strings.Join(config.ListenPeerURLs, ",") + ", advertise " + strings.Join(config.AdvertisePeerURLs, ",")},
		{"metrics URLs", orNone(strings.Join(config.ListenMetricsURLs, ","))},
		{"client HTTP", describeClientHTTP(config)},
		{"client TLS", describeTLS(config.ClientTLS)},
		{"peer TLS", describeTLS(config.PeerTLS)},
		{"auth tokens", describeAuthToken(config)},
		{"auto compaction", config.AutoCompaction.String()},
		{"corrupt checks", describeCorruptionChecks(config)},
	}
	fmt.Fprintln(out, "lockstep serve --dry-run: the configuration is valid; nothing was started")
	for _, line := range lines {
		fmt.Fprintf(out, "  %-16s %s\n", line[0], line[1])
	}
	return nil
}

// dataDirectoryState says whether serve would create the member or read an
// existing identity, in which case the --initial-cluster flags are ignored.
func dataDirectoryState(directory string) (string, error) {
	_, err := os.Stat(filepath.Join(directory, "member.json"))
	switch {
	case err == nil:
		return "has member.json: the member's identity comes from it, --initial-cluster* are ignored", nil
	case errors.Is(err, os.ErrNotExist):
		return "no member.json: the member is created from the --initial-cluster* flags", nil
	}
	return "", fmt.Errorf("--data-dir %s: %v", directory, err)
}

// describeClientHTTP says where the client port's HTTP routes are served.
func describeClientHTTP(config server.Config) string {
	if len(config.ListenClientHTTPURLs) == 0 {
		return "on the client URLs, beside gRPC"
	}
	return strings.Join(config.ListenClientHTTPURLs, ",") + " (the client URLs serve gRPC alone)"
}

// describeCorruptionChecks says which of etcd's corruption checks run.
func describeCorruptionChecks(config server.Config) string {
	var checks []string
	if config.InitialCorruptCheck {
		checks = append(checks, "at start (InitialCorruptCheck)")
	}
	if config.CorruptCheckInterval > 0 {
		checks = append(checks, "every "+config.CorruptCheckInterval.String()+" on the leader")
	}
	return orNone(strings.Join(checks, ", "))
}

func describeTLS(config *tls.Config) string {
	switch {
	case config == nil:
		return "off"
	case config.ClientAuth == tls.RequireAndVerifyClientCert:
		return "on, certificates of the other side required"
	}
	return "on"
}

// describeAuthToken says which auth tokens the member issues and
// accepts; config was validated, so its --auth-token parses.
func describeAuthToken(config server.Config) string {
	tokens, err := kv.ParseAuthToken(config.AuthToken)
	if config.AuthToken == "" || err == nil && tokens == nil {
		ttl := config.AuthTokenTTL
		if ttl == 0 {
			ttl = kv.DefaultAuthTokenTTL
		}
		return fmt.Sprintf("simple, each living %v after its last use", ttl)
	}
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(tokens)
}

func orNone(value string) string {
	if value == "" {
		return "none"
	}
	return value
}
