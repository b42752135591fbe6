package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/lockstepdb/lockstep/internal/testpki"
	"github.com/lockstepdb/lockstep/server"
)

// configFromFile parses serve's command line args (which name a
// configuration file) with environment as serve does, and returns the
// configuration, the warnings, and the error, if any.
func configFromFile(t *testing.T, args, environment []string) (server.Config, []string, error) {
	t.Helper()
	flags := &serveFlags{}
	command := newServeCommandWith(flags)
	if err := command.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	var commandLine []string
	command.Flags().Visit(func(flag *pflag.Flag) { commandLine = append(commandLine, flag.Name) })
	active, warnings, err := flagsFromConfigFile(commandLine, flags, environment)
	if err != nil {
		return server.Config{}, nil, err
	}
	config, err := active.config(io.Discard)
	return config, warnings, err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeReadsEtcdsConfigFile: a configuration file in etcd's format (the
// shape of etcd's etcd.conf.yml.sample: its keys, its TLS blocks, its
// defaults for what lockstep lacks) configures the member; the other flags
// and the environment are ignored, with warnings, as etcd ignores them.
func TestServeReadsEtcdsConfigFile(t *testing.T) {
	dir := t.TempDir()
	authority := testpki.NewAuthority(t, "ca")
	ca := authority.WriteCA(t, dir, "ca.crt")
	certificate, key := testpki.WriteCertificate(t, dir, "server", authority.Issue(t, "infra0"))
	path := writeFile(t, dir, "etcd.conf.yml", `
name: 'infra0'
data-dir: `+filepath.Join(dir, "data")+`
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: https://127.0.0.1:2380
listen-client-urls: https://127.0.0.1:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: https://127.0.0.1:2380
advertise-client-urls: https://127.0.0.1:2379
discovery-srv:
initial-cluster: infra0=https://127.0.0.1:2380
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-pprof: true
watch-progress-notify-interval: 5000000000
auto-compaction-mode: periodic
auto-compaction-retention: "1"
client-transport-security:
  cert-file: `+certificate+`
  key-file: `+key+`
  client-cert-auth: true
  trusted-ca-file: `+ca+`
  auto-tls: false
peer-transport-security:
  cert-file: `+certificate+`
  key-file: `+key+`
  client-cert-auth: true
  trusted-ca-file: `+ca+`
  allowed-cn: [infra1]
  auto-tls: false
self-signed-cert-validity: 1
log-level: warn
logger: zap
log-outputs: [stderr]
force-new-cluster: false
`)
	config, warnings, err := configFromFile(t, []string{"--config-file", path, "--name", "ignored"}, []string{"ETCD_NAME=ignored-too", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case config.Name != "infra0" || config.DataDirectory != filepath.Join(dir, "data"):
		t.Errorf("name and data dir: %q %q", config.Name, config.DataDirectory)
	case config.SnapshotCount != 10000 || config.HeartbeatInterval != 100*time.Millisecond || config.ElectionTimeout != time.Second:
		t.Errorf("timing: %d %v %v", config.SnapshotCount, config.HeartbeatInterval, config.ElectionTimeout)
	case config.WatchProgressNotifyInterval != 5*time.Second:
		t.Errorf("a duration in nanoseconds, as etcd's file has it: %v", config.WatchProgressNotifyInterval)
	case config.AutoCompaction != server.AutoCompaction{Period: time.Hour}:
		t.Errorf("auto compaction: %+v", config.AutoCompaction)
	case config.ClientTLS == nil || config.ClientTLS.ClientCAs == nil || config.PeerTLS == nil || config.PeerCertAllowedCN != "infra1":
		t.Errorf("TLS from the blocks: client %v, peer %v, allowed CN %q", config.ClientTLS != nil, config.PeerTLS != nil, config.PeerCertAllowedCN)
	case !config.EnablePprof:
		t.Error("enable-pprof: true did not enable the profiler")
	case strings.Join(config.InitialCluster["infra0"], ",") != "https://127.0.0.1:2380":
		t.Errorf("initial cluster: %v", config.InitialCluster)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"--name is ignored", "ETCD_NAME is ignored", "ignored: log-outputs=stderr, logger=zap, max-snapshots=5, max-wals=5, self-signed-cert-validity=1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "HOME") {
		t.Errorf("warned about a variable that names no flag:\n%s", joined)
	}
}

// TestServeRefusesWhatItCannotHonourInAConfigFile: a key nobody knows, a
// setting lockstep does not honour that matters to the data, an
// unsupported TLS setting, two allowed names, and a file that is not YAML
// are errors naming the file and the key.
func TestServeRefusesWhatItCannotHonourInAConfigFile(t *testing.T) {
	dir := t.TempDir()
	for _, test := range []struct{ content, want string }{
		{"name: a\nnmae: b\n", `unknown key "nmae"`},
		{"wal-dir: /fast/disk\n", "lockstep does not support etcd's wal-dir"},
		{"force-new-cluster: true\n", "force-new-cluster"},
		{"client-transport-security:\n  auto-tls: true\n", "client-transport-security.auto-tls: lockstep does not support it"},
		{"discovery-srv: example.com\n", "lockstep does not support etcd's discovery-srv"},
		{"peer-transport-security:\n  allowed-cn: [a, b]\n", "lockstep takes one name, got 2"},
		{"peer-transport-security:\n  colour: blue\n", `unknown key "colour"`},
		{"heartbeat-interval: often\n", "heartbeat-interval"},
		{"name: [unclosed\n", "not YAML"},
	} {
		path := writeFile(t, dir, "etcd.conf.yml", test.content)
		_, _, err := configFromFile(t, []string{"--config-file", path}, nil)
		if err == nil || !strings.Contains(err.Error(), test.want) || !strings.Contains(err.Error(), "--config-file") {
			t.Errorf("%q: %v, want an error with %q", test.content, err, test.want)
		}
	}
	if _, _, err := configFromFile(t, []string{"--config-file", filepath.Join(dir, "missing.yml")}, nil); err == nil {
		t.Error("a missing file was taken")
	}
}

// TestServeDryRunTakesTheConfigFileFromTheEnvironment: ETCD_CONFIG_FILE
// names the file as --config-file does, as etcd reads it.
func TestServeDryRunTakesTheConfigFileFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "etcd.conf.yml", "name: from-file\ndata-dir: "+filepath.Join(dir, "data")+"\nauto-compaction-retention: 2h\n")
	t.Setenv("ETCD_CONFIG_FILE", path)
	output, err := runServeDryRun(t)
	if err != nil || !strings.Contains(output, "name             from-file") || !strings.Contains(output, "periodic, keeping 2h0m0s") {
		t.Fatalf("dry run with ETCD_CONFIG_FILE: %v\n%s", err, output)
	}
}
