package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// runDirectoryPrefix starts the name of every run directory, followed by
// the id of the process that made it.
const runDirectoryPrefix = "k8s-compat-run-"

// DefaultDirectory returns /dev/shm when it is a directory (a memory file
// system on Linux), else the system's temporary directory. In memory, a
// member's fsync costs next to nothing, as for the embedded etcd that
// Kubernetes' own tests run with UnsafeNoFsync: the suite tests
// semantics, not durability, and some of its cases give a watch event
// 150 ms to arrive, which a member waiting on a shared disk can miss.
func DefaultDirectory() string {
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// NewRunDirectory creates, in DefaultDirectory, the directory that holds
// every cluster of one run, named after the calling process. It first
// removes the run directories of processes that no longer run: a process
// killed by its timeout or a panic cannot remove its own, and in /dev/shm
// they would hold memory.
func NewRunDirectory() (string, error) {
	parent := DefaultDirectory()
	removeStaleRunDirectories(parent)
	directory, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", runDirectoryPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	return directory, nil
}

// removeStaleRunDirectories removes the run directories in parent whose
// process has exited.
func removeStaleRunDirectories(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, entry := range entries {
		name := entry.Name()
		if !entry.IsDir() || !strings.HasPrefix(name, runDirectoryPrefix) {
			continue
		}
		processText, _, found := strings.Cut(strings.TrimPrefix(name, runDirectoryPrefix), "-")
		process, err := strconv.Atoi(processText)
		if !found || err != nil || process <= 0 || processRuns(process) {
			continue
		}
		os.RemoveAll(filepath.Join(parent, name))
	}
}

// processRuns reports whether a process with this id exists (it may be
// another process that reused the id: then a stale directory stays a while
// longer, which is harmless).
func processRuns(process int) bool {
	err := syscall.Kill(process, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
