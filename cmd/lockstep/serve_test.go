package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/lockstepdb/lockstep/internal/testkeys"
	"github.com/lockstepdb/lockstep/server"
)

// serveConfigError parses serve's flags and environment as the command does
// and returns the error message, if any.
func serveConfigError(t *testing.T, args []string, environment []string) (string, *serveFlags) {
	t.Helper()
	flags := &serveFlags{}
	command := newServeCommandWith(flags)
	if err := command.ParseFlags(args); err != nil {
		return err.Error(), flags
	}
	if _, err := applyEnvironment(command.Flags(), environment, command.Flags()); err != nil {
		return err.Error(), flags
	}
	if _, err := flags.config(io.Discard); err != nil {
		return err.Error(), flags
	}
	return "", flags
}

func TestServeFlagsAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir}
	if message, flags := serveConfigError(t, base, []string{"LOCKSTEP_NAME=envname", "LOCKSTEP_INITIAL_CLUSTER=envname=http://localhost:2380", "LOCKSTEP_HEARTBEAT_INTERVAL=50"}); message != "" || flags.name != "envname" || flags.heartbeatMillis != 50 {
		t.Fatalf("environment not applied: %q %+v", message, flags)
	}
	if message, flags := serveConfigError(t, base, []string{"LOCKSTEP_WATCH_PROGRESS_NOTIFY_INTERVAL=1s"}); message != "" || flags.watchProgressInterval != time.Second {
		t.Fatalf("progress interval from the environment: %q %v", message, flags.watchProgressInterval)
	}
	if message, flags := serveConfigError(t, base, nil); message != "" || flags.watchProgressInterval != 10*time.Minute {
		t.Fatalf("default progress interval: %q %v, want etcd's 10m", message, flags.watchProgressInterval)
	}
	for _, c := range []struct {
		args []string
		want server.AutoCompaction
	}{
		{nil, server.AutoCompaction{}}, // etcd's default: off
		{[]string{"--auto-compaction-retention", "1"}, server.AutoCompaction{Period: time.Hour}},
		{[]string{"--auto-compaction-retention", "30m"}, server.AutoCompaction{Period: 30 * time.Minute}},
		{[]string{"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"}, server.AutoCompaction{Revisions: 1000}},
	} {
		flags := &serveFlags{}
		command := newServeCommandWith(flags)
		if err := command.ParseFlags(append(append([]string{}, base...), c.args...)); err != nil {
			t.Fatal(err)
		}
		config, err := flags.config(io.Discard)
		if err != nil || config.AutoCompaction != c.want {
			t.Errorf("%v: auto compaction %+v (%v), want %+v", c.args, config.AutoCompaction, err, c.want)
		}
	}
	if message, flags := serveConfigError(t, base, nil); message != "" || flags.bcryptCost != 10 || flags.authTokenTTLSeconds != 300 {
		t.Fatalf("default auth flags: %q bcrypt cost %d, token TTL %d s, want etcd's 10 and 300", message, flags.bcryptCost, flags.authTokenTTLSeconds)
	}
	// A flag on the command line wins over the environment.
	if _, flags := serveConfigError(t, append(base, "--name", "cli", "--initial-cluster", "cli=http://localhost:2380"), []string{"LOCKSTEP_NAME=envname"}); flags.name != "cli" {
		t.Fatalf("environment overrode the command line: %q", flags.name)
	}
	cases := []struct {
		args        []string
		environment []string
		want        string
	}{
		{[]string{"--initial-cluster-state", "maybe"}, nil, "--initial-cluster-state must be new or existing"},
		{[]string{"--initial-cluster", "other=http://localhost:2380"}, nil, `no member named "default"`},
		{[]string{"--initial-cluster", "default=http://127.0.0.1:9999"}, nil, "--initial-advertise-peer-urls"},
		{[]string{"--listen-client-urls", "ftp://x:1"}, nil, "scheme must be http or https"},
		{[]string{"--election-timeout", "200"}, nil, "at least 5 times --heartbeat-interval"},
		{[]string{"--cert-file", "a.crt"}, nil, "--cert-file and --key-file must be given together"},
		{[]string{"--client-cert-auth"}, nil, "need --cert-file and --key-file"},
		{[]string{"--listen-client-urls", "https://127.0.0.1:2379"}, nil, "is https but --cert-file"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{nil, []string{"LOCKSTEP_HEARTBEAT_INTERVAL=soon"}, "LOCKSTEP_HEARTBEAT_INTERVAL"},
		{[]string{"--initial-cluster", "a"}, nil, "is not name=URL"},
		{[]string{"--watch-progress-notify-interval", "-1s"}, nil, "--watch-progress-notify-interval must not be negative"},
		{nil, []string{"LOCKSTEP_WATCH_PROGRESS_NOTIFY_INTERVAL=often"}, "LOCKSTEP_WATCH_PROGRESS_NOTIFY_INTERVAL"},
		{[]string{"--bcrypt-cost", "3"}, nil, "--bcrypt-cost must be between 4 and 31, got 3"},
		{[]string{"--auth-token-ttl", "-1"}, nil, "--auth-token-ttl must not be negative"},
		{[]string{"--wal-segment-bytes", "-1"}, nil, "--wal-segment-bytes must not be negative"},
		{[]string{"--auto-compaction-mode", "daily"}, nil, "--auto-compaction-mode must be periodic or revision"},
		{[]string{"--auto-compaction-retention", "soon"}, nil, "--auto-compaction-retention \"soon\""},
		{[]string{"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"}, nil, "number of revisions"},
		{nil, []string{"ETCD_AUTO_COMPACTION_RETENTION=-2"}, "--auto-compaction-retention must not be negative"},
		{[]string{"--corrupt-check-time", "10ms"}, nil, "--corrupt-check-time must be 0 (no checks) or at least 1s"},
		{[]string{"--grpc-keepalive-min-time", "-1s"}, nil, "--grpc-keepalive-min-time, --grpc-keepalive-interval and --grpc-keepalive-timeout must not be negative"},
		{[]string{"--feature-gates", "StopGRPCServiceOnDefrag=true"}, nil, "does not implement etcd's StopGRPCServiceOnDefrag=true"},
		{nil, []string{"ETCD_FEATURE_GATES=Warp=true"}, "unrecognized feature gate Warp"},
	}
	for _, c := range cases {
		message, _ := serveConfigError(t, append(append([]string{}, base...), c.args...), c.environment)
		if !strings.Contains(message, c.want) {
			t.Errorf("%v %v: got %q, want it to mention %q", c.args, c.environment, message, c.want)
		}
	}
}

// TestServeEnvironmentPrecedence: a flag beats LOCKSTEP_<FLAG>, which
// beats etcd's ETCD_<FLAG>; every serve flag reads both; a variable that
// names no flag, or is overridden, is warned about.
func TestServeEnvironmentPrecedence(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir}
	if message, flags := serveConfigError(t, base, []string{"ETCD_NAME=fromEtcd", "ETCD_INITIAL_CLUSTER=fromEtcd=http://localhost:2380", "ETCD_HEARTBEAT_INTERVAL=40"}); message != "" || flags.name != "fromEtcd" || flags.heartbeatMillis != 40 {
		t.Fatalf("ETCD_ variables not applied: %q %+v", message, flags)
	}
	if _, flags := serveConfigError(t, base, []string{"ETCD_NAME=fromEtcd", "LOCKSTEP_NAME=fromLockstep", "LOCKSTEP_INITIAL_CLUSTER=fromLockstep=http://localhost:2380"}); flags.name != "fromLockstep" {
		t.Fatalf("LOCKSTEP_NAME should beat ETCD_NAME: got %q", flags.name)
	}
	if _, flags := serveConfigError(t, append(base, "--name", "cli", "--initial-cluster", "cli=http://localhost:2380"), []string{"ETCD_NAME=fromEtcd", "LOCKSTEP_NAME=fromLockstep"}); flags.name != "cli" {
		t.Fatalf("the command line should beat both variables: got %q", flags.name)
	}
	if message, _ := serveConfigError(t, base, []string{"ETCD_HEARTBEAT_INTERVAL=soon"}); !strings.Contains(message, "ETCD_HEARTBEAT_INTERVAL") {
		t.Fatalf("a bad ETCD_ value should be named: %q", message)
	}

	// Every flag reads both variables.
	command := newServeCommandWith(&serveFlags{})
	command.Flags().VisitAll(func(flag *pflag.Flag) {
		for _, prefix := range []string{"LOCKSTEP_", "ETCD_"} {
			probe := newServeCommandWith(&serveFlags{})
			key, value := environmentKey(prefix, flag.Name), flag.DefValue
			if value == "" {
				value = "set" // the flags with no default are strings
			}
			if _, err := applyEnvironment(probe.Flags(), []string{key + "=" + value}, probe.Flags()); err != nil {
				t.Errorf("%s: %v", key, err)
			}
			if !probe.Flags().Changed(flag.Name) {
				t.Errorf("%s did not set --%s", key, flag.Name)
			}
		}
	})

	warnings, err := applyEnvironment(command.Flags(), []string{
		"ETCD_EXPERIMENTAL_MAGIC=5", "LOCKSTEP_NAEM=x", "LOCKSTEP_ETCD_BIN=/bin", "ETCDCTL_API=3", "HOME=/root",
		"ETCD_LOG_LEVEL=debug", "LOCKSTEP_LOG_LEVEL=warn",
	}, command.Flags())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"ETCD_EXPERIMENTAL_MAGIC is set but names no flag", "LOCKSTEP_NAEM is set but names no flag", `ETCD_LOG_LEVEL="debug" is ignored: LOCKSTEP_LOG_LEVEL="warn" wins`} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	for _, quiet := range []string{"LOCKSTEP_ETCD_BIN", "ETCDCTL_API", "HOME"} {
		if strings.Contains(joined, quiet) {
			t.Errorf("warned about %s, which is not lockstep's to judge:\n%s", quiet, joined)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("want 3 warnings, got %d:\n%s", len(warnings), joined)
	}
}

// TestServeAuthTokenFlag: --auth-token takes etcd's syntax, from the
// command line, LOCKSTEP_AUTH_TOKEN or ETCD_AUTH_TOKEN, and a bad value
// stops serve with a message that names the flag and what is wrong.
func TestServeAuthTokenFlag(t *testing.T) {
	dir := t.TempDir()
	keys := testkeys.Write(t, dir, testkeys.Ed25519)
	base := []string{"--data-dir", filepath.Join(dir, "data")}
	spec := "jwt,pub-key=" + keys.Public + ",priv-key=" + keys.Private + ",sign-method=EdDSA,ttl=10m"
	configOf := func(args, environment []string) (server.Config, error) {
		flags := &serveFlags{}
		command := newServeCommandWith(flags)
		if err := command.ParseFlags(append(append([]string{}, base...), args...)); err != nil {
			return server.Config{}, err
		}
		if _, err := applyEnvironment(command.Flags(), environment, command.Flags()); err != nil {
			return server.Config{}, err
		}
		return flags.config(io.Discard)
	}
	if config, err := configOf(nil, nil); err != nil || config.AuthToken != "simple" {
		t.Errorf("default: %q %v, want etcd's simple", config.AuthToken, err)
	}
	for _, source := range []struct {
		args, environment []string
	}{
		{[]string{"--auth-token", spec}, nil},
		{nil, []string{"LOCKSTEP_AUTH_TOKEN=" + spec}},
		{nil, []string{"ETCD_AUTH_TOKEN=" + spec}},
	} {
		if config, err := configOf(source.args, source.environment); err != nil || config.AuthToken != spec {
			t.Errorf("%v %v: %q %v", source.args, source.environment, config.AuthToken, err)
		}
	}
	cases := []struct {
		args        []string
		environment []string
		want        string
	}{
		{[]string{"--auth-token", "jwt2"}, nil, `--auth-token: unknown token kind "jwt2": want simple or jwt`},
		{[]string{"--auth-token", "jwt,sign-method=EdDSA"}, nil, "--auth-token: jwt needs pub-key=PATH"},
		{[]string{"--auth-token", "jwt,sign-method=EdDSA,pub-key=" + keys.Public + ",pubkey=x"}, nil, `--auth-token: unknown jwt option "pubkey"`},
		{[]string{"--auth-token", "jwt,sign-method=RS256,pub-key=" + keys.Public}, nil, "--auth-token: pub-key " + keys.Public + ": sign-method RS256 needs an RSA key, the file holds an Ed25519 key"},
		{[]string{"--auth-token", "jwt,sign-method=EdDSA,pub-key=" + filepath.Join(dir, "none.pub")}, nil, "--auth-token: pub-key: open " + filepath.Join(dir, "none.pub")},
		{[]string{"--auth-token", "jwt,sign-method=EdDSA,pub-key=" + keys.Public + ",ttl=1 hour"}, nil, `--auth-token: ttl "1 hour": want a duration`},
		{nil, []string{"ETCD_AUTH_TOKEN=jwt,sign-method=EdDSA,pub-key=" + keys.Private}, `pub-key ` + keys.Private + `: PEM block "PRIVATE KEY" is not a public key`},
	}
	for _, c := range cases {
		_, err := configOf(c.args, c.environment)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: got %v, want an error containing %q", c.args, c.environment, err, c.want)
		}
	}

	output, err := runServeDryRun(t, append(base, "--auth-token", spec)...)
	if err != nil || !strings.Contains(output, "auth tokens      jwt, sign-method EdDSA, ttl 10m0s: issues and verifies") {
		t.Errorf("dry run with jwt: %v\n%s", err, output)
	}
	output, err = runServeDryRun(t, append(base, "--auth-token-ttl", "60")...)
	if err != nil || !strings.Contains(output, "auth tokens      simple, each living 1m0s after its last use") {
		t.Errorf("dry run with simple tokens: %v\n%s", err, output)
	}
}

// TestServeWALSegmentBytes checks that --wal-segment-bytes (and its
// variable) reaches the server's configuration: the checker puts members on
// small tmpfs disks, which the default 64 MiB segments would not fit.
func TestServeWALSegmentBytes(t *testing.T) {
	base := []string{"--data-dir", t.TempDir()}
	for _, source := range []struct {
		args, environment []string
		want              int64
	}{
		{nil, nil, 0},
		{[]string{"--wal-segment-bytes", "1048576"}, nil, 1 << 20},
		{nil, []string{"LOCKSTEP_WAL_SEGMENT_BYTES=2097152"}, 2 << 20},
	} {
		flags := &serveFlags{}
		command := newServeCommandWith(flags)
		if err := command.ParseFlags(append(append([]string{}, base...), source.args...)); err != nil {
			t.Fatal(err)
		}
		if _, err := applyEnvironment(command.Flags(), source.environment, command.Flags()); err != nil {
			t.Fatal(err)
		}
		config, err := flags.config(io.Discard)
		if err != nil || config.WALSegmentBytes != source.want {
			t.Errorf("%v %v: WALSegmentBytes %d, %v; want %d", source.args, source.environment, config.WALSegmentBytes, err, source.want)
		}
	}
}
