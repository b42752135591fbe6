package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile builds a CPU profile whose samples are stacks (leaf first)
// with the given nanoseconds.
func cpuProfile(samples map[string]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	functions := map[string]*profile.Function{}
	for stack, nanoseconds := range samples {
		sample := &profile.Sample{Value: []int64{nanoseconds / p.Period, nanoseconds}}
		for _, name := range strings.Split(stack, " < ") {
			function := functions[name]
			if function == nil {
				function = &profile.Function{ID: uint64(len(functions) + 1), Name: name}
				functions[name] = function
				p.Function = append(p.Function, function)
			}
			location := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: function}}}
			p.Location = append(p.Location, location)
			sample.Location = append(sample.Location, location)
		}
		p.Sample = append(p.Sample, sample)
	}
	return p
}

func TestComponentOfTakesTheFirstThatMatches(t *testing.T) {
	for stack, want := range map[string]string{
		// An allocation inside the propose path is the allocator's.
		"runtime.mallocgc < github.com/lockstepdb/lockstep/node.(*Node).Propose < google.golang.org/grpc.(*Server).processRPC": "Go: allocation and collector assists",
		// The propose path inside a gRPC call is lockstep's.
		"runtime.selectgo < github.com/lockstepdb/lockstep/node.(*Node).Propose < github.com/lockstepdb/lockstep/server.(*Server).propose < google.golang.org/grpc.(*Server).processRPC": "lockstep: propose path (checks, encoding, hand-over to the loop, wait)",
		// A connection's reader runs under serveStreams too.
		"syscall.read < google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams < google.golang.org/grpc.(*Server).serveStreams":                 "gRPC: connection readers (frames, headers)",
		"google.golang.org/grpc.encode < google.golang.org/grpc.(*Server).processRPC < google.golang.org/grpc.(*Server).serveStreams.func2.1":                   "gRPC: call goroutines (decode, dispatch, encode)",
		"github.com/cockroachdb/pebble/v2/internal/compact.(*Runner).WriteTable < github.com/cockroachdb/pebble/v2.(*DB).runCompaction":                         "Pebble: flushes and compactions",
		"github.com/cockroachdb/pebble/v2.(*Batch).Set < github.com/lockstepdb/lockstep/kv.(*Store).Apply < github.com/lockstepdb/lockstep/node.(*applier).run": "lockstep: applier (store's Apply, watchers, answers)",
		"runtime.futex < runtime.notesleep < runtime.stopm < runtime.findRunnable < runtime.schedule < runtime.mcall":                                           "Go: scheduler, network poller, timers",
		// A watch stream's sender encodes and sends its events itself.
		"google.golang.org/grpc.encode < google.golang.org/grpc.(*serverStream).SendMsg < github.com/lockstepdb/lockstep/server.(*watchStream).sendLoop": "lockstep: watch streams (requests in, events out)",
		"main.somethingElse": otherComponent,
	} {
		if got := componentOf(strings.Split(stack, " < ")); got != want {
			t.Errorf("%s: %q, want %q", stack, got, want)
		}
	}
}

func TestBreakdownPerOperation(t *testing.T) {
	directory := t.TempDir()
	name := filepath.Join(directory, "cpu.pprof")
	p := cpuProfile(map[string]int64{
		"github.com/lockstepdb/lockstep/wal.(*Log).writeBatch < github.com/lockstepdb/lockstep/node.(*logWriter).run": 3_000_000_000,
		"github.com/lockstepdb/lockstep/raft.(*Core).Step < github.com/lockstepdb/lockstep/node.(*Node).run":          1_000_000_000,
	})
	var encoded bytes.Buffer
	if err := p.Write(&encoded); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, encoded.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var output, errorOutput bytes.Buffer
	if code := breakdownMain([]string{"--ops", "1000", name}, &output, &errorOutput); code != 0 {
		t.Fatalf("exit %d: %s", code, errorOutput.String())
	}
	lines := strings.Split(strings.TrimSpace(output.String()), "\n")
	want := []string{
		"| component | CPU | share | per operation |",
		"|---|---|---|---|",
		"| lockstep: log writer (WAL write and fdatasync) | 3.00 s | 75.0% | 3000.0 µs |",
		"| lockstep: raft loop (core, Ready, hand-overs) | 1.00 s | 25.0% | 1000.0 µs |",
		"| total | 4.00 s | 100.0% | 4000.0 µs |",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", output.String(), strings.Join(want, "\n"))
	}
}

func TestBreakdownRefusesBadInput(t *testing.T) {
	directory := t.TempDir()
	heap := filepath.Join(directory, "heap.pprof")
	p := cpuProfile(map[string]int64{"main.f": 1})
	p.SampleType = []*profile.ValueType{{Type: "inuse_space", Unit: "bytes"}, {Type: "alloc_space", Unit: "bytes"}}
	var encoded bytes.Buffer
	if err := p.Write(&encoded); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(heap, encoded.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(directory, "garbage")
	if err := os.WriteFile(garbage, []byte("not a profile"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		arguments []string
		code      int
		message   string
	}{
		{[]string{heap}, 2, "usage"},
		{[]string{"--ops", "10"}, 2, "usage"},
		{[]string{"--ops", "10", heap}, 1, "not a CPU profile"},
		{[]string{"--ops", "10", garbage}, 1, "garbage"},
		{[]string{"--ops", "10", filepath.Join(directory, "missing")}, 1, "no such file"},
	} {
		var output, errorOutput bytes.Buffer
		code := breakdownMain(test.arguments, &output, &errorOutput)
		if code != test.code || !strings.Contains(errorOutput.String(), test.message) {
			t.Errorf("%q: exit %d, %q; want exit %d mentioning %q", test.arguments, code, errorOutput.String(), test.code, test.message)
		}
	}
}
