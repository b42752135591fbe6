package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeTakesEtcdsOtherFlags: etcd's flags lockstep has no counterpart
// for start it with one warning that lists them (booleans without a value
// too), stay out of its help, and are refused where an operator relies on
// them.
func TestServeTakesEtcdsOtherFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m1")
	output, err := runServeDryRun(t, "--name", "m1", "--data-dir", dir,
		"--logger=zap", "--log-outputs=stderr", "--max-wals", "5", "--strict-reconfig-check", "--strict-reconfig-check=false",
		"--enable-grpc-gateway=false")
	if err != nil || !strings.Contains(output, "etcd settings lockstep has no counterpart for, ignored: enable-grpc-gateway=false, log-outputs=stderr, logger=zap, max-wals=5") {
		t.Fatalf("etcd's other flags: %v\n%s", err, output)
	}
	for _, refused := range [][]string{{"--force-new-cluster"}, {"--wal-dir", "/fast/disk"}, {"--auto-tls"}, {"--unsafe-no-fsync=true"}} {
		output, err := runServeDryRun(t, append([]string{"--name", "m1", "--data-dir", dir}, refused...)...)
		if err == nil || !strings.Contains(output+err.Error(), "lockstep does not support etcd's") {
			t.Errorf("%v: %v\n%s", refused, err, output)
		}
	}
	var help bytes.Buffer
	root := newRootCommand()
	root.SetOut(&help)
	root.SetArgs([]string{"serve", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "max-wals") || !strings.Contains(help.String(), "--config-file") {
		t.Errorf("serve --help shows etcd's hidden flags, or lacks --config-file:\n%s", help.String())
	}
}
