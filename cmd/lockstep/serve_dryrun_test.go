package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runServeDryRun runs `lockstep serve --dry-run` with args as the binary
// would and returns its output.
func runServeDryRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"serve", "--dry-run"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestServeDryRunChecksWithoutStarting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m1")
	output, err := runServeDryRun(t, "--name", "m1", "--data-dir", dir,
		"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://m1.example:2379",
		"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://m1.example:2380",
		"--initial-cluster", "m2=http://m2.example:2380,m1=http://m1.example:2380", "--initial-cluster-token", "t1")
	if err != nil {
		t.Fatalf("dry run failed: %v\n%s", err, output)
	}
	for _, want := range []string{
		"the configuration is valid; nothing was started",
		"initial cluster  m1=http://m1.example:2380,m2=http://m2.example:2380",
		"advertise http://m1.example:2379",
		"no member.json",
		"client TLS       off",
		"auto compaction  off",
		"corrupt checks   none",
	} {
		if !strings.Contains(output, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, output)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dry run touched the data directory: %v", err)
	}
	// A member that already has an identity is told its flags are ignored.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "member.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	output, err = runServeDryRun(t, "--name", "m1", "--data-dir", dir)
	if err != nil || !strings.Contains(output, "has member.json") {
		t.Fatalf("dry run on an existing member: %v\n%s", err, output)
	}
	output, err = runServeDryRun(t, "--name", "m1", "--data-dir", dir, "--auto-compaction-retention", "12")
	if err != nil || !strings.Contains(output, "auto compaction  periodic, keeping 12h0m0s") {
		t.Fatalf("dry run with auto compaction: %v\n%s", err, output)
	}
	output, err = runServeDryRun(t, "--name", "m1", "--data-dir", dir, "--corrupt-check-time", "5m", "--feature-gates", "InitialCorruptCheck=true")
	if err != nil || !strings.Contains(output, "corrupt checks   at start (InitialCorruptCheck), every 5m0s on the leader") {
		t.Fatalf("dry run with corruption checks: %v\n%s", err, output)
	}
}

func TestServeDryRunRefusesBadConfiguration(t *testing.T) {
	_, err := runServeDryRun(t, "--data-dir", t.TempDir(), "--initial-cluster", "other=http://localhost:2380")
	if err == nil || !strings.Contains(err.Error(), `no member named "default"`) {
		t.Fatalf("got %v, want the configuration error", err)
	}
	if exitCode(err) != 2 {
		t.Fatalf("exit code %d, want 2", exitCode(err))
	}
}
