package loadgen

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parse registers the flags on a fresh set and parses args.
func parse(t *testing.T, args ...string) (Config, *pflag.FlagSet) {
	t.Helper()
	config := DefaultConfig()
	flags := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	config.RegisterFlags(flags)
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config, flags
}

func TestArgsRoundTripThroughTheFlags(t *testing.T) {
	config := DefaultConfig()
	config.Workload = WorkloadMixed
	config.Endpoints = []string{"127.0.0.1:1", "127.0.0.1:2"}
	config.Clients, config.Connections, config.Duration, config.Warmup = 1000, 100, 10*time.Second, time.Second
	config.SequentialKeys, config.TargetLeader, config.ReadRatio, config.Consistency = true, true, 0.75, Serializable
	config.KeySpace, config.KeySize, config.ValueSize, config.Seed = 5000, 10, 64, 9
	args := config.Args()
	if args[0] != "mixed" {
		t.Fatalf("args %v start with %q, want the workload", args, args[0])
	}
	parsed, _ := parse(t, args[1:]...)
	parsed.Workload = Workload(args[0])
	parsed.Progress, config.Progress = nil, nil
	if !reflect.DeepEqual(parsed, config) {
		t.Fatalf("parsed %+v\nwant   %+v\nfrom %v", parsed, config, args)
	}
	defaults := DefaultConfig()
	defaults.Endpoints, defaults.Total = []string{"a:1"}, 5
	if got := strings.Join(defaults.Args(), " "); got != "put --endpoints a:1 --total=5" {
		t.Fatalf("defaults render as %q", got)
	}
}

func TestNewWorkloadsRoundTripAndTakeTheirDefaults(t *testing.T) {
	for _, config := range []Config{
		func() Config {
			c := DefaultConfig()
			c.Workload, c.Endpoints, c.Total = WorkloadWatchFanout, []string{"a:1"}, 5
			c.Watchers, c.Streams, c.Connections = 500, 50, 10
			return c
		}(),
		func() Config {
			c := DefaultConfig()
			c.Workload, c.Endpoints, c.Total = WorkloadBigStore, []string{"a:1"}, 5
			c.KeySpace, c.ValueSize, c.SmallKeySpace = DefaultBigStoreKeySpace, DefaultBigStoreValueSize, 10
			return c
		}(),
		func() Config {
			c := DefaultConfig()
			c.Workload, c.Endpoints, c.Total = WorkloadBigStore, []string{"a:1"}, 5
			return c // the general defaults, which are not big-store's
		}(),
	} {
		args := config.Args()
		parsed, flags := parse(t, args[1:]...)
		parsed.Workload = Workload(args[0])
		parsed.ApplyWorkloadDefaults(flags)
		if !reflect.DeepEqual(parsed, config) {
			t.Fatalf("parsed %+v\nwant   %+v\nfrom %v", parsed, config, args)
		}
	}
	config, flags := parse(t)
	config.Workload = WorkloadBigStore
	config.ApplyWorkloadDefaults(flags)
	if config.KeySpace != 4_000_000 || config.ValueSize != 1024 {
		t.Fatalf("big-store defaults: %d keys of %d bytes, want 4,000,000 of 1,024", config.KeySpace, config.ValueSize)
	}
	config, flags = parse(t, "--key-space", "20", "--val-size", "30")
	config.Workload = WorkloadBigStore
	config.ApplyWorkloadDefaults(flags)
	if config.KeySpace != 20 || config.ValueSize != 30 {
		t.Fatalf("big-store with flags: %d keys of %d bytes, want 20 of 30", config.KeySpace, config.ValueSize)
	}
	_, flags = parse(t, "--watchers", "5")
	if err := CheckFlagUse(flags, WorkloadPut); err == nil || err.Error() != "--watchers applies only to the watch-fanout workload, not to put" {
		t.Fatalf("error %v", err)
	}
}

func TestDescribeProgress(t *testing.T) {
	for _, test := range []struct {
		report Progress
		want   string
	}{
		{Progress{Phase: PhasePrefill, Stage: "big-range", Elapsed: 2 * time.Second, Done: 1000, Total: 4000, Errors: 1}, "big-range prefill 1000/4000 keys, 1 failed transactions, 500 keys/s"},
		{Progress{Phase: PhaseMeasure, Elapsed: time.Second, Done: 12, Errors: 2, Events: 3000}, "measure 12 done, 2 errors, 10 ops/s, 3000 events/s"},
		{Progress{Phase: PhaseWarmup, Elapsed: time.Second, Done: 7}, "warmup  7 done, 0 errors"},
	} {
		if got := DescribeProgress(test.report); got != test.want {
			t.Errorf("DescribeProgress(%+v) = %q, want %q", test.report, got, test.want)
		}
	}
}

func TestCheckFlagUseRejectsFlagsTheWorkloadIgnores(t *testing.T) {
	_, flags := parse(t, "--read-ratio", "0.5")
	if err := CheckFlagUse(flags, WorkloadPut); err == nil || err.Error() != "--read-ratio applies only to the mixed workload, not to put" {
		t.Fatalf("error %v", err)
	}
	if err := CheckFlagUse(flags, WorkloadMixed); err != nil {
		t.Fatal(err)
	}
	_, flags = parse(t, "--consistency", "s")
	if err := CheckFlagUse(flags, WorkloadTxnPut); err == nil || !strings.Contains(err.Error(), "--consistency applies only to the range, mixed and big-store workloads") {
		t.Fatalf("error %v", err)
	}
	if err := CheckFlagUse(flags, WorkloadRange); err != nil {
		t.Fatal(err)
	}
}

func TestUserFlagKeepsThePasswordOutOfArgs(t *testing.T) {
	config, _ := parse(t, "--endpoints", "a:1", "--total", "5", "--user", "alice:secret")
	if config.User != "alice:secret" {
		t.Fatalf("--user parsed as %q", config.User)
	}
	args := strings.Join(config.Args(), " ")
	if strings.Contains(args, "secret") || !strings.Contains(args, "--user=alice:PASSWORD") {
		t.Fatalf("args %q", args)
	}
}
