package loadgen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Workload names what each operation of a run does.
type Workload string

// The workloads. See the package documentation and docs/benchmark-method.md.
const (
	WorkloadPut          Workload = "put"
	WorkloadRange        Workload = "range"
	WorkloadTxnPut       Workload = "txn-put"
	WorkloadWatchLatency Workload = "watch-latency"
	WorkloadMixed        Workload = "mixed"
	WorkloadWatchFanout  Workload = "watch-fanout"
	WorkloadBigStore     Workload = "big-store"
)

// Workloads lists every workload in the order the documentation gives them.
var Workloads = []Workload{WorkloadPut, WorkloadRange, WorkloadTxnPut, WorkloadWatchLatency, WorkloadMixed, WorkloadWatchFanout, WorkloadBigStore}

// reads reports whether the workload issues ranges (and so uses
// Consistency and benefits from a prefilled key space).
func (w Workload) reads() bool {
	return w == WorkloadRange || w == WorkloadMixed || w == WorkloadBigStore
}

// Consistency is the consistency of range requests.
type Consistency string

// The two consistencies of etcd's Range: linearizable (the default; the
// server confirms it is up to date, through the leader) or serializable
// (answered from the member's local state, possibly stale).
const (
	Linearizable Consistency = "l"
	Serializable Consistency = "s"
)

// TLSFiles names the PEM files of a TLS client configuration, as etcdctl's
// --cacert, --cert and --key flags do. All empty means plain TCP.
type TLSFiles struct {
	CACert, Cert, Key string
}

// Limits on configuration values, so that bad input is rejected with a
// message instead of exhausting memory.
const (
	maxClients        = 100_000
	maxKeySpace       = 100_000_000
	maxTxnPutKeySpace = 10_000_000 // txn-put keeps the last revision seen of every key
	maxValueSize      = 1 << 20    // etcd rejects requests over 1.5 MiB by default
	maxKeySize        = 1 << 16
	maxWatchers       = 1_000_000
	// fanoutStampSize is the send time a watch-fanout value starts with.
	fanoutStampSize = 16
)

// Defaults of the workloads that have their own: watch-fanout's watchers
// and streams (issue 15: 10,000 watchers over 100 streams) and big-store's
// sizes (4,000,000 keys of 1 KiB: 4 GB of live data, measured against a
// small store of 1,000 keys).
const (
	DefaultWatchers          = 10_000
	DefaultStreams           = 100
	DefaultBigStoreKeySpace  = 4_000_000
	DefaultBigStoreValueSize = 1024
	DefaultSmallKeySpace     = 1000
)

// Config describes one run. Run reads it and does not keep or modify it.
// The error messages of Validate name the `lockstep bench` flags, which the
// field comments give.
type Config struct {
	Workload Workload
	// Endpoints: host:port (or URL) of each server to send load to (--endpoints).
	Endpoints []string
	// Connections: gRPC connections (one clientv3 client each), the clients
	// spread over them in turn, and they over the endpoints in turn (--conns).
	Connections int
	// Clients: concurrent workers, each with one request outstanding (--clients).
	Clients int
	// Total: stop after this many measured operations (0: no limit) (--total).
	Total int64
	// Duration: stop after this long measuring (0: no limit) (--duration).
	// At least one of Total and Duration must be set.
	Duration time.Duration
	// Warmup: run the workload this long, unmeasured, before measuring (--warmup).
	Warmup time.Duration
	// KeySize and ValueSize in bytes (--key-size, --val-size). Keys are the
	// key's index in decimal, zero-padded to KeySize bytes.
	KeySize, ValueSize int
	// KeySpace: number of distinct keys (--key-space).
	KeySpace int
	// SequentialKeys: each operation takes the next key in turn, across all
	// clients; otherwise keys are uniformly random (--sequential-keys).
	SequentialKeys bool
	// TargetLeader: find the leader with Maintenance.Status and send
	// everything to it alone (--target-leader).
	TargetLeader bool
	// Consistency of ranges, for range and mixed (--consistency).
	Consistency Consistency
	// ReadRatio: the share of ranges in mixed, in [0, 1] (--read-ratio).
	ReadRatio float64
	// Prefill: before range and mixed, write every key of the key space
	// once (unmeasured, in transactions of 128 puts) so reads find values
	// (--prefill).
	Prefill bool
	// TLS client files (--cacert, --cert, --key).
	TLS TLSFiles
	// User is "name:password" of an etcd auth user every connection
	// authenticates as, as etcdctl's --user; empty: none (--user).
	User string
	// DialTimeout bounds the first contact with each endpoint (--dial-timeout).
	DialTimeout time.Duration
	// OperationTimeout bounds each operation; one that takes longer counts
	// as a "timeout" error (--op-timeout).
	OperationTimeout time.Duration
	// Seed of the random key choices and of mixed's read/write draws (--seed).
	Seed uint64
	// Watchers and Streams, for watch-fanout: the watches on the writers'
	// key range, spread over this many gRPC watch streams, which are
	// spread over the connections (--watchers, --streams).
	Watchers, Streams int
	// SmallKeySpace, for big-store: the key space of the small store the
	// big one is measured against (--small-key-space).
	SmallKeySpace int
	// OnMeasure, if set, is called synchronously as each measured phase
	// begins (begin true) and once its workers have stopped (begin false),
	// with the stage's name (big-store has several; "" for the other
	// workloads): for sampling something over exactly the measured window,
	// such as the CPU time of the servers. The calls of one stage never
	// overlap.
	OnMeasure func(stage string, begin bool)
	// Progress, if set, is called about four times a second while Run
	// runs, and at the end of each prefill and measured phase with its
	// final counts; never two calls at once, and none after Run returns.
	Progress func(Progress)
}

// Progress is a report of a run in progress.
type Progress struct {
	Phase   Phase
	Elapsed time.Duration // since the phase began
	Done    int64         // operations finished in this phase, with or without error (prefill: keys written)
	Errors  int64         // of which failed (prefill: failed transactions)
	Total   int64         // prefill only: the keys to write
	Stage   string        // big-store: the stage (BigStoreStages); "" otherwise
	Events  int64         // watch-fanout, measured phase: events delivered so far
}

// Phase is the stage a run is in.
type Phase string

// The phases of a run, in order; a phase that does not apply is skipped.
const (
	PhasePrefill Phase = "prefill"
	PhaseWarmup  Phase = "warmup"
	PhaseMeasure Phase = "measure"
)

// DefaultConfig returns the defaults of `lockstep bench` (put, one client
// on one connection, 8-byte keys over 1,000 random keys, 256-byte values);
// Endpoints and Total or Duration are left for the caller.
func DefaultConfig() Config {
	return Config{
		Workload:         WorkloadPut,
		Connections:      1,
		Clients:          1,
		KeySize:          8,
		ValueSize:        256,
		KeySpace:         1000,
		Consistency:      Linearizable,
		ReadRatio:        0.9,
		Prefill:          true,
		DialTimeout:      5 * time.Second,
		OperationTimeout: 10 * time.Second,
		Seed:             1,
		Watchers:         DefaultWatchers,
		Streams:          DefaultStreams,
		SmallKeySpace:    DefaultSmallKeySpace,
	}
}

// Validate checks every field and returns the first problem, with the flag
// it concerns, or nil.
func (c Config) Validate() error {
	if !c.Workload.valid() {
		return fmt.Errorf("unknown workload %q: want one of %s", c.Workload, workloadList())
	}
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("--endpoints is empty: give at least one host:port")
	}
	for _, endpoint := range c.Endpoints {
		if strings.TrimSpace(endpoint) == "" || strings.ContainsAny(endpoint, " \t,") {
			return fmt.Errorf("--endpoints: %q is not a host:port or URL", endpoint)
		}
	}
	if c.Total < 0 {
		return fmt.Errorf("--total %d must not be negative", c.Total)
	}
	if c.Duration < 0 {
		return fmt.Errorf("--duration %v must not be negative", c.Duration)
	}
	if c.Total == 0 && c.Duration == 0 {
		return fmt.Errorf("give --total or --duration (or both): a run must be bounded")
	}
	if c.Warmup < 0 {
		return fmt.Errorf("--warmup %v must not be negative", c.Warmup)
	}
	if c.Clients < 1 || c.Clients > maxClients {
		return fmt.Errorf("--clients %d must be between 1 and %d", c.Clients, maxClients)
	}
	if c.Connections < 1 {
		return fmt.Errorf("--conns %d must be at least 1", c.Connections)
	}
	if c.Connections > c.Clients && (c.Workload != WorkloadWatchFanout || c.Connections > max(c.Clients, c.Streams)) {
		if c.Workload == WorkloadWatchFanout {
			return fmt.Errorf("--conns %d is more than --clients %d and --streams %d: some connections would carry no load", c.Connections, c.Clients, c.Streams)
		}
		return fmt.Errorf("--conns %d is more than --clients %d: some connections would carry no load", c.Connections, c.Clients)
	}
	if err := c.validateWorkloadSpecifics(); err != nil {
		return err
	}
	if err := c.validateKeys(); err != nil {
		return err
	}
	if c.ValueSize < 0 || c.ValueSize > maxValueSize {
		return fmt.Errorf("--val-size %d must be between 0 and %d", c.ValueSize, maxValueSize)
	}
	if c.Consistency != Linearizable && c.Consistency != Serializable {
		return fmt.Errorf("--consistency %q must be l (linearizable) or s (serializable)", c.Consistency)
	}
	if !(c.ReadRatio >= 0 && c.ReadRatio <= 1) {
		return fmt.Errorf("--read-ratio %v must be between 0 and 1", c.ReadRatio)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return fmt.Errorf("--cert and --key go together: give both or neither")
	}
	if c.User != "" && !strings.Contains(c.User, ":") {
		return fmt.Errorf("--user %q must be name:password", strings.SplitN(c.User, ":", 2)[0])
	}
	if c.DialTimeout <= 0 {
		return fmt.Errorf("--dial-timeout %v must be positive", c.DialTimeout)
	}
	if c.OperationTimeout <= 0 {
		return fmt.Errorf("--op-timeout %v must be positive", c.OperationTimeout)
	}
	return nil
}

// validateKeys checks the key size against the key space (and, for
// watch-latency, which gives each client its own key, the clients).
func (c Config) validateKeys() error {
	if c.KeySpace < 1 || c.KeySpace > maxKeySpace {
		return fmt.Errorf("--key-space %d must be between 1 and %d", c.KeySpace, maxKeySpace)
	}
	if c.Workload == WorkloadTxnPut && c.KeySpace > maxTxnPutKeySpace {
		return fmt.Errorf("--key-space %d is too large for txn-put, which remembers a revision per key: at most %d", c.KeySpace, maxTxnPutKeySpace)
	}
	if c.KeySize < 1 || c.KeySize > maxKeySize {
		return fmt.Errorf("--key-size %d must be between 1 and %d", c.KeySize, maxKeySize)
	}
	distinct, what := c.KeySpace, "--key-space"
	if c.Workload == WorkloadWatchLatency {
		distinct, what = c.Clients, "--clients (watch-latency gives each client its own key)"
	}
	if needed := len(strconv.Itoa(distinct - 1)); c.KeySize < needed {
		return fmt.Errorf("--key-size %d cannot hold %d distinct keys of %s: it needs at least %d bytes", c.KeySize, distinct, what, needed)
	}
	return nil
}

// validateWorkloadSpecifics checks the settings of watch-fanout and
// big-store.
func (c Config) validateWorkloadSpecifics() error {
	switch c.Workload {
	case WorkloadWatchFanout:
		if c.Watchers < 1 || c.Watchers > maxWatchers {
			return fmt.Errorf("--watchers %d must be between 1 and %d", c.Watchers, maxWatchers)
		}
		if c.Streams < 1 || c.Streams > c.Watchers {
			return fmt.Errorf("--streams %d must be between 1 and --watchers %d", c.Streams, c.Watchers)
		}
		if c.ValueSize < fanoutStampSize {
			return fmt.Errorf("--val-size %d is too small for watch-fanout: each value starts with its %d-byte send time", c.ValueSize, fanoutStampSize)
		}
	case WorkloadBigStore:
		if c.SmallKeySpace < 1 || c.SmallKeySpace > c.KeySpace {
			return fmt.Errorf("--small-key-space %d must be between 1 and --key-space %d", c.SmallKeySpace, c.KeySpace)
		}
		if !c.Prefill {
			return fmt.Errorf("--prefill=false: big-store is measured on the stores its prefills make")
		}
	}
	return nil
}

func (w Workload) valid() bool { return slices.Contains(Workloads, w) }

// workloadList returns "put, range, ... or mixed".
func workloadList() string {
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = string(w)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
