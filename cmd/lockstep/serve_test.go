package main

import (
	"io"
	"strings"
	"testing"
	"time"
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
	if err := applyEnvironment(command.Flags(), environment); err != nil {
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
	}
	for _, c := range cases {
		message, _ := serveConfigError(t, append(append([]string{}, base...), c.args...), c.environment)
		if !strings.Contains(message, c.want) {
			t.Errorf("%v %v: got %q, want it to mention %q", c.args, c.environment, message, c.want)
		}
	}
}
