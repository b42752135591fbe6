package loadgen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// RegisterFlags defines the workload flags of `lockstep bench` on flags,
// bound to c's fields, with c's current values as the defaults. Called by
// the command's constructor, before parsing.
func (c *Config) RegisterFlags(flags *pflag.FlagSet) {
	flags.StringSliceVar(&c.Endpoints, "endpoints", c.Endpoints, "comma-separated host:port (or URL) of the servers to load")
	flags.IntVar(&c.Connections, "conns", c.Connections, "gRPC connections; clients are spread over them, and they over the endpoints")
	flags.IntVar(&c.Clients, "clients", c.Clients, "concurrent clients, each with one request outstanding")
	flags.Int64Var(&c.Total, "total", c.Total, "stop after this many measured operations (0: no limit)")
	flags.DurationVar(&c.Duration, "duration", c.Duration, "stop after measuring this long (0: no limit); --total or --duration is required")
	flags.DurationVar(&c.Warmup, "warmup", c.Warmup, "run the workload this long, unmeasured, before measuring")
	flags.IntVar(&c.KeySize, "key-size", c.KeySize, "key size in bytes (the key's index in decimal, zero-padded)")
	flags.IntVar(&c.ValueSize, "val-size", c.ValueSize, "value size in bytes")
	flags.IntVar(&c.KeySpace, "key-space", c.KeySpace, "number of distinct keys")
	flags.BoolVar(&c.SequentialKeys, "sequential-keys", c.SequentialKeys, "take keys in turn instead of at random")
	flags.BoolVar(&c.TargetLeader, "target-leader", c.TargetLeader, "find the leader (Maintenance.Status) and send everything to it")
	flags.StringVar((*string)(&c.Consistency), "consistency", string(c.Consistency), "range and mixed: l (linearizable) or s (serializable)")
	flags.Float64Var(&c.ReadRatio, "read-ratio", c.ReadRatio, "mixed: share of ranges among operations, 0 to 1")
	flags.BoolVar(&c.Prefill, "prefill", c.Prefill, "range and mixed: write every key once, unmeasured, before the run")
	flags.StringVar(&c.TLS.CACert, "cacert", c.TLS.CACert, "verify servers with this CA bundle (PEM)")
	flags.StringVar(&c.TLS.Cert, "cert", c.TLS.Cert, "client certificate (PEM) for TLS")
	flags.StringVar(&c.TLS.Key, "key", c.TLS.Key, "client key (PEM) for TLS")
	flags.StringVar(&c.User, "user", c.User, "name:password of the etcd auth user to authenticate as")
	flags.DurationVar(&c.DialTimeout, "dial-timeout", c.DialTimeout, "how long each endpoint has to answer at the start")
	flags.DurationVar(&c.OperationTimeout, "op-timeout", c.OperationTimeout, "an operation taking longer counts as a timeout error")
	flags.Uint64Var(&c.Seed, "seed", c.Seed, "seed of random keys and of mixed's choices")
	flags.IntVar(&c.Watchers, "watchers", c.Watchers, "watch-fanout: watches on the writers' key range")
	flags.IntVar(&c.Streams, "streams", c.Streams, "watch-fanout: gRPC watch streams the watches are spread over (and they over the connections)")
	flags.IntVar(&c.SmallKeySpace, "small-key-space", c.SmallKeySpace, "big-store: keys of the small store the big one (--key-space) is measured against")
}

// ApplyWorkloadDefaults sets the defaults that depend on the workload,
// for the flags not given on the command line: big-store's --key-space
// (DefaultBigStoreKeySpace) and --val-size (DefaultBigStoreValueSize).
// Call it once c.Workload is set, after parsing.
func (c *Config) ApplyWorkloadDefaults(flags *pflag.FlagSet) {
	if c.Workload != WorkloadBigStore {
		return
	}
	if !flags.Changed("key-space") {
		c.KeySpace = DefaultBigStoreKeySpace
	}
	if !flags.Changed("val-size") {
		c.ValueSize = DefaultBigStoreValueSize
	}
}

// workloadFlags names the flags that only some workloads use.
var workloadFlags = map[string][]Workload{
	"consistency":     {WorkloadRange, WorkloadMixed, WorkloadBigStore},
	"prefill":         {WorkloadRange, WorkloadMixed, WorkloadBigStore},
	"read-ratio":      {WorkloadMixed},
	"watchers":        {WorkloadWatchFanout},
	"streams":         {WorkloadWatchFanout},
	"small-key-space": {WorkloadBigStore},
}

// CheckFlagUse returns an error naming a flag that was set on the command
// line but that workload does not use, or nil.
func CheckFlagUse(flags *pflag.FlagSet, workload Workload) error {
	for name, users := range workloadFlags {
		if !flags.Changed(name) || slices.Contains(users, workload) {
			continue
		}
		names := make([]string, len(users))
		for i, user := range users {
			names[i] = string(user)
		}
		list, noun := names[0], "workload"
		if len(names) > 1 {
			list, noun = strings.Join(names[:len(names)-1], ", ")+" and "+names[len(names)-1], "workloads"
		}
		return fmt.Errorf("--%s applies only to the %s %s, not to %s", name, list, noun, workload)
	}
	return nil
}

// Args returns the arguments of `lockstep bench` that run c: the workload,
// --endpoints, and every flag whose value differs from DefaultConfig.
func (c Config) Args() []string {
	defaults := DefaultConfig()
	if c.Workload == WorkloadBigStore {
		defaults.KeySpace, defaults.ValueSize = DefaultBigStoreKeySpace, DefaultBigStoreValueSize
	}
	args := []string{string(c.Workload), "--endpoints", strings.Join(c.Endpoints, ",")}
	add := func(differs bool, name, value string) {
		if differs {
			args = append(args, "--"+name+"="+value)
		}
	}
	add(c.Connections != defaults.Connections, "conns", strconv.Itoa(c.Connections))
	add(c.Clients != defaults.Clients, "clients", strconv.Itoa(c.Clients))
	add(c.Total != defaults.Total, "total", strconv.FormatInt(c.Total, 10))
	add(c.Duration != defaults.Duration, "duration", c.Duration.String())
	add(c.Warmup != defaults.Warmup, "warmup", c.Warmup.String())
	add(c.KeySize != defaults.KeySize, "key-size", strconv.Itoa(c.KeySize))
	add(c.ValueSize != defaults.ValueSize, "val-size", strconv.Itoa(c.ValueSize))
	add(c.KeySpace != defaults.KeySpace, "key-space", strconv.Itoa(c.KeySpace))
	add(c.SequentialKeys != defaults.SequentialKeys, "sequential-keys", strconv.FormatBool(c.SequentialKeys))
	add(c.TargetLeader != defaults.TargetLeader, "target-leader", strconv.FormatBool(c.TargetLeader))
	usesReads := slices.Contains(workloadFlags["consistency"], c.Workload)
	add(usesReads && c.Consistency != defaults.Consistency, "consistency", string(c.Consistency))
	add(usesReads && c.Prefill != defaults.Prefill, "prefill", strconv.FormatBool(c.Prefill))
	add(c.Workload == WorkloadMixed && c.ReadRatio != defaults.ReadRatio, "read-ratio", strconv.FormatFloat(c.ReadRatio, 'g', -1, 64))
	add(c.TLS.CACert != "", "cacert", c.TLS.CACert)
	add(c.TLS.Cert != "", "cert", c.TLS.Cert)
	add(c.TLS.Key != "", "key", c.TLS.Key)
	// The password stays out of the printed command line.
	add(c.User != "", "user", strings.SplitN(c.User, ":", 2)[0]+":PASSWORD")
	add(c.DialTimeout != defaults.DialTimeout, "dial-timeout", c.DialTimeout.String())
	add(c.OperationTimeout != defaults.OperationTimeout, "op-timeout", c.OperationTimeout.String())
	add(c.Seed != defaults.Seed, "seed", strconv.FormatUint(c.Seed, 10))
	add(c.Workload == WorkloadWatchFanout && c.Watchers != defaults.Watchers, "watchers", strconv.Itoa(c.Watchers))
	add(c.Workload == WorkloadWatchFanout && c.Streams != defaults.Streams, "streams", strconv.Itoa(c.Streams))
	add(c.Workload == WorkloadBigStore && c.SmallKeySpace != defaults.SmallKeySpace, "small-key-space", strconv.Itoa(c.SmallKeySpace))
	return args
}
