package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// breakdownCommand splits CPU profiles of a member (its
// /debug/pprof/profile on the metrics listener) into the components that
// spent the time, per operation: `compare cpu-breakdown --ops N PROFILE...`.
// docs/latency-budget.md shows what it found under lockstep bench put.
const breakdownCommand = "cpu-breakdown"

// component is one part of a member that a profile sample may be spent
// in, told by the functions on the sample's stack.
type component struct {
	name    string
	matches func(stack []string) bool
}

// components are tried in order and the first that matches a sample takes
// it, so a component listed earlier claims its time wherever it happens:
// the garbage collector's assists and stack growth inside a gRPC call
// count as theirs, not the call's; the propose path inside the call
// counts as lockstep's, not gRPC's. A connection's reader runs inside
// serveStreams too, so it is told apart before the calls are.
var components = []component{
	{"Go: garbage collector, background marking", containing("runtime.gcBgMarkWorker")},
	{"Go: allocation and collector assists", containing("runtime.mallocgc", "runtime.gcAssistAlloc")},
	{"Go: stack growth (each gRPC call starts a goroutine)", containing("runtime.newstack")},
	{"lockstep: propose path (checks, encoding, hand-over to the loop, wait)", containing("server.(*Server).propose", "node.(*Node).Propose")},
	{"lockstep: read path (read index, store reads)", containing("node.(*Node).Read", "kv.(*Store).Range")},
	{"lockstep: interceptors and handlers", all(containing("lockstep/server."), containing("grpc.(*Server).processRPC"))},
	// A watch stream's goroutines: its handler, which reads the client's
	// requests, and its sender, which encodes and sends the events.
	{"lockstep: watch streams (requests in, events out)", containing("server.(*watchStream)")},
	{"gRPC: connection readers (frames, headers)", containing("(*http2Server).HandleStreams")},
	{"gRPC: call goroutines (decode, dispatch, encode)", containing("grpc.(*Server).serveStreams", "grpc.(*Server).processRPC")},
	{"gRPC: connection writers", containing("(*loopyWriter).run")},
	{"lockstep: applier (store's Apply, watchers, answers)", containing("node.(*applier)")},
	{"Pebble: flushes and compactions", all(containing("cockroachdb/pebble"), containing("ompact", "lush"))},
	{"Pebble: other", containing("cockroachdb/pebble")},
	{"lockstep: peer transport (appends out, acknowledgements in)", containing("lockstep/transport.")},
	{"lockstep: raft loop (core, Ready, hand-overs)", containing("node.(*Node).run")},
	{"lockstep: log writer (WAL write and fdatasync)", containing("node.(*logWriter)", "lockstep/wal.")},
	{"Go: scheduler, network poller, timers", onlyRuntime},
}

// otherComponent takes what no component matches.
const otherComponent = "other"

// containing matches a stack with a function whose name contains any of
// fragments.
func containing(fragments ...string) func([]string) bool {
	return func(stack []string) bool {
		for _, function := range stack {
			for _, fragment := range fragments {
				if strings.Contains(function, fragment) {
					return true
				}
			}
		}
		return false
	}
}

// all matches a stack that every one of matchers matches.
func all(matchers ...func([]string) bool) func([]string) bool {
	return func(stack []string) bool {
		for _, matches := range matchers {
			if !matches(stack) {
				return false
			}
		}
		return true
	}
}

// onlyRuntime matches a stack of the Go runtime's own functions.
func onlyRuntime(stack []string) bool {
	for _, function := range stack {
		if !strings.HasPrefix(function, "runtime.") && !strings.HasPrefix(function, "internal/runtime/") {
			return false
		}
	}
	return len(stack) > 0
}

// breakdown is CPU time by component.
type breakdown struct {
	nanoseconds map[string]int64
	total       int64
}

// componentOf names the component that spent a sample with stack, leaf
// first.
func componentOf(stack []string) string {
	for _, candidate := range components {
		if candidate.matches(stack) {
			return candidate.name
		}
	}
	return otherComponent
}

// add adds a CPU profile's samples to b.
func (b *breakdown) add(p *profile.Profile) error {
	valueIndex := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Type == "cpu" && t.Unit == "nanoseconds" })
	if valueIndex < 0 {
		return errors.New("not a CPU profile (no cpu/nanoseconds sample values)")
	}
	for _, sample := range p.Sample {
		var stack []string
		for _, location := range sample.Location {
			for _, line := range location.Line { // innermost (inlined) first
				if line.Function != nil {
					stack = append(stack, line.Function.Name)
				}
			}
		}
		value := sample.Value[valueIndex]
		b.nanoseconds[componentOf(stack)] += value
		b.total += value
	}
	return nil
}

// write prints b as a Markdown table, largest component first, with each
// one's CPU per operation over operations.
func (b *breakdown) write(w io.Writer, operations float64) {
	names := make([]string, 0, len(b.nanoseconds))
	for name := range b.nanoseconds {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int {
		if c := b.nanoseconds[y] - b.nanoseconds[x]; c != 0 {
			if c > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(x, y)
	})
	fmt.Fprintln(w, "| component | CPU | share | per operation |")
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(name string, nanoseconds int64) {
		share := 0.0
		if b.total > 0 {
			share = 100 * float64(nanoseconds) / float64(b.total)
		}
		fmt.Fprintf(w, "| %s | %.2f s | %.1f%% | %.1f µs |\n", name, float64(nanoseconds)/1e9, share, float64(nanoseconds)/1e3/operations)
	}
	for _, name := range names {
		row(name, b.nanoseconds[name])
	}
	row("total", b.total)
}

// breakdownMain runs the cpu-breakdown command and returns its exit code.
func breakdownMain(arguments []string, output, errorOutput io.Writer) int {
	flags := flag.NewFlagSet(breakdownCommand, flag.ContinueOnError)
	flags.SetOutput(errorOutput)
	flags.Usage = func() {
		fmt.Fprintf(errorOutput, "usage: compare %s --ops N PROFILE...\n\nSplits CPU profiles (pprof format, as /debug/pprof/profile serves them) by the component that spent the time, per operation.\n\n", breakdownCommand)
		flags.PrintDefaults()
	}
	operations := flags.Float64("ops", 0, "operations completed while the profiles were taken (required)")
	if err := flags.Parse(arguments); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *operations <= 0 || flags.NArg() == 0 {
		flags.Usage()
		return 2
	}
	b := breakdown{nanoseconds: map[string]int64{}}
	for _, name := range flags.Args() {
		if err := addProfileFile(&b, name); err != nil {
			fmt.Fprintf(errorOutput, "compare %s: %v\n", breakdownCommand, err)
			return 1
		}
	}
	b.write(output, *operations)
	return 0
}

// addProfileFile adds the CPU profile in the named file to b.
func addProfileFile(b *breakdown, name string) error {
	file, err := os.Open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	p, err := profile.Parse(file)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := b.add(p); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
