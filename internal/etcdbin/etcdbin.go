// Package etcdbin finds (building them on first use) the etcd and etcdctl
// v3.7.3 binaries that lockstep's differential tests, benchmark and checker
// run next to lockstep. They are built from the Go module proxy by
// tools/build-etcd --with-etcd into $LOCKSTEP_ETCD_BIN, or .cache/bin in the repository.
package etcdbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Path returns the absolute path of tool ("etcd" or "etcdctl"), building
// both tools with tools/build-etcd the first time it is called in a
// process (the script reuses binaries that are up to date). Safe for
// concurrent use.
func Path(tool string) (string, error) {
	if tool != "etcd" && tool != "etcdctl" {
		return "", fmt.Errorf("etcdbin: unknown tool %q (want etcd or etcdctl)", tool)
	}
	buildOnce.Do(func() { buildDir, buildErr = build() })
	if buildErr != nil {
		return "", buildErr
	}
	return filepath.Join(buildDir, tool), nil
}

// build runs tools/build-etcd and returns the directory it printed.
func build() (string, error) {
	root, err := repositoryRoot()
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	command := exec.Command(filepath.Join(root, "tools", "build-etcd"), "--with-etcd")
	command.Stdout, command.Stderr = &stdout, &stderr
	if err := command.Run(); err != nil {
		return "", fmt.Errorf("etcdbin: tools/build-etcd: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// repositoryRoot walks up from the working directory to the directory that
// holds tools/build-etcd.
func repositoryRoot() (string, error) {
	directory, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(directory, "tools", "build-etcd")); err == nil {
			return directory, nil
		}
		parent := filepath.Dir(directory)
		if parent == directory {
			return "", fmt.Errorf("etcdbin: tools/build-etcd not found above the working directory")
		}
		directory = parent
	}
}
