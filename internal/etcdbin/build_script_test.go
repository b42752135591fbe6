package etcdbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildScriptBuildsEtcdctlAloneUnlessAsked runs tools/build-etcd on a
// bin directory holding up-to-date binaries (stamps as the script writes
// them), so nothing is compiled: by default it considers etcdctl alone,
// with --with-etcd both, says so on stderr, and prints only the directory
// on stdout (which Path reads).
func TestBuildScriptBuildsEtcdctlAloneUnlessAsked(t *testing.T) {
	root, err := repositoryRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, tool := range []string{"etcd", "etcdctl"} {
		var sources []byte
		for _, file := range []string{"go.mod", "go.sum", "main.go"} {
			data, err := os.ReadFile(filepath.Join(root, "tools", tool, file))
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, data...)
		}
		digest := sha256.Sum256(sources)
		if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, tool+".stamp"), []byte(hex.EncodeToString(digest[:])+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(arguments ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		command := exec.Command(filepath.Join(root, "tools", "build-etcd"), arguments...)
		command.Stdout, command.Stderr = &stdout, &stderr
		if err := command.Run(); err != nil {
			t.Fatalf("tools/build-etcd %v: %v\n%s", arguments, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	stdout, stderr := run(bin)
	if strings.TrimSpace(stdout) != bin {
		t.Errorf("stdout %q, want the directory alone", stdout)
	}
	if !strings.Contains(stderr, "etcdctl v3.7.3 is up to date") || strings.Contains(stderr, "etcd v3.7.3") {
		t.Errorf("by default it should consider etcdctl alone, and say so:\n%s", stderr)
	}
	_, stderr = run("--with-etcd", bin)
	if !strings.Contains(stderr, "etcdctl v3.7.3 is up to date") || !strings.Contains(stderr, "etcd v3.7.3 is up to date") {
		t.Errorf("--with-etcd should consider both, and say so:\n%s", stderr)
	}
}
