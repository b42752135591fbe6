// Package check runs lockstep's linearizability checker: a real cluster
// (started here, or attached by endpoints), concurrent clients recording
// every operation, faults from a seeded schedule, and after healing, a
// porcupine check of the history plus the checks porcupine cannot make
// (convergence, HashKV, the watch stream, lost writes). The `lockstep
// check` command is a thin layer over Run.
package check

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
)

// Config describes one checker run. Zero fields take the defaults of
// WithDefaults.
type Config struct {
	// System is the server to start (ignored with Endpoints).
	System cluster.System
	// Members is the size of the cluster to start.
	Members int
	// Endpoints, if set, attaches to a running cluster instead of
	// starting one; only faults that need no process control are allowed.
	Endpoints []string
	// Duration is how long clients run under faults.
	Duration time.Duration
	// Faults are the kinds of fault to inject; none means a fault-free run.
	Faults []fault.Kind
	// DropUnavailableFaults leaves out a requested fault this run cannot
	// inject (diskfull against etcd, or where no tmpfs can be mounted), and
	// reports it (in the progress output and Result.Unavailable), instead
	// of refusing to run. The command line sets it when --faults is not
	// given, so the default is every fault the machine allows.
	DropUnavailableFaults bool
	// DiskBytes is the size of the tmpfs each member's data directory is
	// mounted on when a fault needs disks of their own (diskfull); 0 sizes
	// it from Duration (DiskBytesFor).
	DiskBytes int64
	// Seed chooses the fault schedule and the clients' operations.
	Seed int64
	// Clients is the number of concurrent clients.
	Clients int
	// Keys is the size of the key space.
	Keys int
	// OperationTimeout bounds each client operation.
	OperationTimeout time.Duration
	// CheckTimeout bounds porcupine's search; running out fails the run.
	CheckTimeout time.Duration
	// SerializableReads makes the clients' gets serializable (possibly
	// stale): deliberately unsafe, to show the checker catching stale reads.
	SerializableReads bool
	// OutputDirectory receives the history, faults, watch stream, HTML
	// picture and member logs when a run fails.
	OutputDirectory string
	// WorkDirectory holds member data and logs during the run; empty means
	// a temporary directory, removed afterwards.
	WorkDirectory string
	// Progress receives progress and diagnostic lines; nil discards them.
	Progress io.Writer
}

// Defaults of the fields of Config.
const (
	DefaultMembers          = 3
	DefaultDuration         = time.Minute
	DefaultClients          = 6
	DefaultKeys             = 8
	DefaultOperationTimeout = 3 * time.Second
	DefaultCheckTimeout     = 5 * time.Minute
	// DefaultSnapshotCount is the command line's --snapshot-count for
	// lockstep members: low enough that, at a few hundred operations a
	// second, every member snapshots every few seconds and one that was
	// down or removed for longer catches up by a snapshot transfer.
	DefaultSnapshotCount = 1000
)

// Disk sizes: what a member uses at the start, and what a run adds per
// minute, measured with generous margins (see docs/checker.md).
const (
	baseDiskBytes      = 32 << 20
	diskBytesPerMinute = 8 << 20
)

// DiskBytesFor returns the default size of each member's tmpfs for a run
// of duration: a member's store keeps every revision (the checker never
// compacts) and its three newest snapshots each hold the whole store, so
// its data grows with the run; the Raft log's small segments
// (cluster.DiskWALSegmentBytes) stay a few MiB.
func DiskBytesFor(duration time.Duration) int64 {
	minutes := (duration + time.Minute - 1) / time.Minute
	return baseDiskBytes + int64(minutes)*diskBytesPerMinute
}

// WithDefaults returns the config with zero fields set to their defaults.
func (config Config) WithDefaults() Config {
	if config.System.Kind == "" {
		config.System.Kind = cluster.Lockstep
	}
	if config.Members == 0 {
		config.Members = DefaultMembers
	}
	if config.Duration == 0 {
		config.Duration = DefaultDuration
	}
	if config.Clients == 0 {
		config.Clients = DefaultClients
	}
	if config.Keys == 0 {
		config.Keys = DefaultKeys
	}
	if config.OperationTimeout == 0 {
		config.OperationTimeout = DefaultOperationTimeout
	}
	if config.CheckTimeout == 0 {
		config.CheckTimeout = DefaultCheckTimeout
	}
	if config.OutputDirectory == "" {
		config.OutputDirectory = fmt.Sprintf("lockstep-check-%d", config.Seed)
	}
	if config.DiskBytes == 0 {
		config.DiskBytes = DiskBytesFor(config.Duration)
	}
	return config
}

// Validate reports a configuration the checker cannot run.
func (config Config) Validate() error {
	switch {
	case config.Members < 1:
		return fmt.Errorf("check: --members %d: need at least one", config.Members)
	case config.Duration <= 0:
		return fmt.Errorf("check: --duration %s: must be positive", config.Duration)
	case config.Clients < 1:
		return fmt.Errorf("check: --clients %d: need at least one", config.Clients)
	case config.Keys < 1:
		return fmt.Errorf("check: --keys %d: need at least one", config.Keys)
	case config.OperationTimeout <= 0 || config.CheckTimeout <= 0:
		return fmt.Errorf("check: timeouts must be positive")
	case config.DiskBytes < 0:
		return fmt.Errorf("check: disk size %d: must not be negative", config.DiskBytes)
	}
	if len(config.Endpoints) > 0 {
		for _, kind := range config.Faults {
			if kind.NeedsProcessControl() {
				return fmt.Errorf("check: fault %q needs process control, which --endpoints does not give (only transfer does not)", kind)
			}
		}
	}
	if !config.DropUnavailableFaults {
		if _, reason := config.disklessReason(); reason != "" {
			return fmt.Errorf("check: fault %q: %s", fault.DiskFull, reason)
		}
	}
	return nil
}

// disklessReason returns the faults that need disks of their own and
// why this run cannot give them ("" if it can, or none is requested),
// before trying to mount any.
func (config Config) disklessReason() ([]fault.Kind, string) {
	var kinds []fault.Kind
	for _, kind := range config.Faults {
		if kind.NeedsDisks() {
			kinds = append(kinds, kind)
		}
	}
	switch {
	case len(kinds) == 0:
		return nil, ""
	case config.System.Kind == cluster.Etcd:
		return kinds, "only lockstep members get disks of their own (etcd exits on a full disk, by design, and its 64 MB log segments would not fit)"
	}
	return kinds, ""
}

// withoutFaults returns the config with kinds left out of Faults.
func (config Config) withoutFaults(kinds []fault.Kind) Config {
	var kept []fault.Kind
	for _, kind := range config.Faults {
		if !slices.Contains(kinds, kind) {
			kept = append(kept, kind)
		}
	}
	config.Faults = kept
	return config
}

// needsDisks reports whether a requested fault needs disks of their own.
func (config Config) needsDisks() bool {
	return slices.ContainsFunc(config.Faults, fault.Kind.NeedsDisks)
}

// Command renders the command line that repeats this run's schedule.
func (config Config) Command() string {
	var faults []string
	for _, kind := range config.Faults {
		faults = append(faults, string(kind))
	}
	target := fmt.Sprintf("--system %s --members %d", config.System.Kind, config.Members)
	if config.System.Binary != "" {
		target += " --binary " + config.System.Binary
	}
	if len(config.Endpoints) > 0 {
		target = "--endpoints " + strings.Join(config.Endpoints, ",")
	}
	command := fmt.Sprintf("lockstep check %s --duration %s --faults %q --seed %d --clients %d --keys %d",
		target, config.Duration, strings.Join(faults, ","), config.Seed, config.Clients, config.Keys)
	if config.needsDisks() {
		command += fmt.Sprintf(" --disk-size-mib %d", config.DiskBytes>>20)
	}
	if config.SerializableReads {
		command += " --serializable-reads"
	}
	return command
}
