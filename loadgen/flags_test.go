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

func TestCheckFlagUseRejectsFlagsTheWorkloadIgnores(t *testing.T) {
	_, flags := parse(t, "--read-ratio", "0.5")
	if err := CheckFlagUse(flags, WorkloadPut); err == nil || err.Error() != "--read-ratio applies only to the mixed workload, not to put" {
		t.Fatalf("error %v", err)
	}
	if err := CheckFlagUse(flags, WorkloadMixed); err != nil {
		t.Fatal(err)
	}
	_, flags = parse(t, "--consistency", "s")
	if err := CheckFlagUse(flags, WorkloadTxnPut); err == nil || !strings.Contains(err.Error(), "--consistency applies only to the range and mixed workload") {
		t.Fatalf("error %v", err)
	}
	if err := CheckFlagUse(flags, WorkloadRange); err != nil {
		t.Fatal(err)
	}
}
