package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
)

func TestBenchRejectsBadFlagsPrecisely(t *testing.T) {
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "bench takes one workload (put, range, txn-put, watch-latency, mixed, watch-fanout or big-store), got 0 arguments"},
		{[]string{"bench", "put", "range"}, "got 2 arguments"},
		{[]string{"bench", "get", "--endpoints", "a:1", "--total", "5"}, `unknown workload "get"`},
		{[]string{"bench", "put", "--total", "5"}, "--endpoints is empty"},
		{[]string{"bench", "put", "--endpoints", "a:1"}, "give --total or --duration (or both): a run must be bounded"},
		{[]string{"bench", "put", "--endpoints", "a:1", "--total", "5", "--clients", "2", "--conns", "3"}, "--conns 3 is more than --clients 2"},
		{[]string{"bench", "put", "--endpoints", "a:1", "--total", "5", "--consistency", "s"}, "--consistency applies only to the range, mixed and big-store workloads, not to put"},
		{[]string{"bench", "range", "--endpoints", "a:1", "--total", "5", "--consistency", "x"}, `--consistency "x" must be l (linearizable) or s (serializable)`},
		{[]string{"bench", "mixed", "--endpoints", "a:1", "--total", "5", "--read-ratio", "-1"}, "--read-ratio -1 must be between 0 and 1"},
		{[]string{"bench", "put", "--endpoints", "a:1", "--total", "5", "--plot", "out.png"}, "--plot out.png: the file name must end in .svg or .html"},
		{[]string{"bench", "put", "--endpoints", "a:1", "--total", "5", "--key-size", "2"}, "--key-size 2 cannot hold 1000 distinct keys"},
		{[]string{"bench", "put", "--endpoints", "a:1", "--duration", "soon"}, `invalid argument "soon" for "--duration"`},
	} {
		_, err := runCommand(t, test.args...)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%v: error %v, want one containing %q", test.args, err, test.want)
		}
	}
}

// TestBenchAgainstRealEtcd runs the command against a one-member etcd and
// checks its JSON output and plot.
func TestBenchAgainstRealEtcd(t *testing.T) {
	directory := t.TempDir()
	cluster, err := localcluster.StartEtcd(context.Background(), directory, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	plot := filepath.Join(directory, "latency.svg")
	out, err := runCommand(t, "bench", "txn-put", "--endpoints", cluster.ClientEndpoints()[0], "--total", "200", "--clients", "4",
		"--conns", "2", "--key-space", "10", "--target-leader", "--json", "--plot", plot, "--duration", time.Minute.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var result loadgen.Result
	if err := json.Unmarshal([]byte(out), &result); err != nil {
		t.Fatalf("the output is not one JSON result: %v\n%s", err, out)
	}
	if result.Workload != loadgen.WorkloadTxnPut || result.Operations != 200 || result.Errors != 0 || result.Latency.Count != 200 || result.StoppedBy != "total" {
		t.Fatalf("result %+v: want 200 txn-put operations without errors, stopped by total", result)
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !strings.Contains(string(svg), "<polyline") {
		t.Fatalf("plot: %v, %d bytes", err, len(svg))
	}
	text, err := runCommand(t, "bench", "put", "--endpoints", cluster.ClientEndpoints()[0], "--total", "50", "--quiet")
	if err != nil || !strings.Contains(text, "operations   50 in") || !strings.Contains(text, "histogram") {
		t.Fatalf("text output (%v):\n%s", err, text)
	}
}
