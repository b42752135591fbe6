// Package cluster starts, drives and stops a cluster of etcd-API member
// processes on 127.0.0.1 for the checker: etcd itself, or `lockstep serve`,
// which takes etcd's flag names. Each member's peer traffic goes through a
// fault-injecting proxy (package check/proxy). It can also attach to a
// cluster someone else started, with client access only.
package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
)

// Kind names the server a cluster runs.
type Kind string

// The servers a cluster can run.
const (
	// Etcd runs etcd v3.7.3 (built by tools/build-etcd unless Binary is set).
	Etcd Kind = "etcd"
	// Lockstep runs `lockstep serve` (this executable unless Binary is set).
	Lockstep Kind = "lockstep"
)

// System describes the member binary: which server, where it is, and how
// it is run.
type System struct {
	Kind Kind
	// Binary is the path of the executable; empty means the default of Kind.
	Binary string
	// SnapshotCount, if positive, is passed to lockstep members as
	// --snapshot-count: a low value makes them snapshot and compact their
	// logs often, so that a member restarted or re-added after a while
	// catches up by a snapshot transfer, which the checker then exercises.
	// etcd members keep their default.
	SnapshotCount int
	// WALSegmentBytes, if positive, is passed to lockstep members as
	// --wal-segment-bytes (the cluster sets it for members on small disks
	// of their own, see DiskWALSegmentBytes).
	WALSegmentBytes int64
}

// Resolve returns the system with Binary filled in: etcd from
// internal/etcdbin, lockstep from the running executable.
func (system System) Resolve() (System, error) {
	if system.Binary != "" {
		if _, err := os.Stat(system.Binary); err != nil {
			return system, fmt.Errorf("cluster: %s binary: %w", system.Kind, err)
		}
		return system, nil
	}
	var err error
	switch system.Kind {
	case Etcd:
		system.Binary, err = etcdbin.Path("etcd")
	case Lockstep:
		if testing.Testing() {
			// A test binary given `serve ...` would run its tests again,
			// which could start clusters of their own.
			return system, fmt.Errorf("cluster: in a test, name the lockstep executable (System.Binary)")
		}
		system.Binary, err = os.Executable()
	default:
		return system, fmt.Errorf("cluster: unknown system %q (want etcd or lockstep)", system.Kind)
	}
	if err != nil {
		return system, fmt.Errorf("cluster: find %s binary: %w", system.Kind, err)
	}
	return system, nil
}

// arguments returns the command line (without the program) for a member
// with the given etcd-style flags.
func (system System) arguments(flags []string) []string {
	switch system.Kind {
	case Lockstep:
		arguments := append([]string{"serve"}, flags...)
		if system.SnapshotCount > 0 {
			arguments = append(arguments, fmt.Sprintf("--snapshot-count=%d", system.SnapshotCount))
		}
		if system.WALSegmentBytes > 0 {
			arguments = append(arguments, fmt.Sprintf("--wal-segment-bytes=%d", system.WALSegmentBytes))
		}
		return arguments
	default:
		// etcd logs every request at info level; warnings are what a person
		// reading a failure needs.
		return append(flags, "--log-level=warn")
	}
}
