package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// panicVariable asks a child process of TestReadHuntTellsTheCoresAssertions
// to panic one way (see TestPanicForReadHunt).
const panicVariable = "LOCKSTEP_STACK_PANIC"

// TestReadHuntTellsTheCoresAssertions feeds readHunt the output of real
// child processes (this test binary, panicking on purpose after a "run"
// line), so that it is judged on the runtime's own tracebacks: only an
// assertion raised in package raft with a "raft: " message counts as a
// catch, on any goroutine; a panic elsewhere, even with a message that
// looks like the core's, is a harness failure.
func TestReadHuntTellsTheCoresAssertions(t *testing.T) {
	if os.Getenv(panicVariable) != "" {
		t.Skip("a child process panics, and does nothing else")
	}
	for _, test := range []struct {
		how       string
		caught    bool
		assertion string
	}{
		{how: "core-on-a-goroutine", caught: true, assertion: "assertion: raft: Advance called without an outstanding Ready"},
		{how: "core-on-a-wait-group-goroutine", caught: true, assertion: "assertion: raft: Advance called without an outstanding Ready"},
		{how: "core-on-the-test-goroutine", caught: true, assertion: "assertion: raft: Advance called without an outstanding Ready"},
		{how: "look-alike-outside-the-core"},
		{how: "nil-pointer"},
		{how: "exit-without-a-result"},
	} {
		t.Run(test.how, func(t *testing.T) {
			command := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestPanicForReadHunt$", "-test.count=1")
			command.Env = append(os.Environ(), panicVariable+"="+test.how)
			output, err := command.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			outcome, err := readHunt(string(output), err)
			if !test.caught {
				if err == nil {
					t.Fatalf("read as %v, want a harness failure; output:\n%s", outcome, output)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v; output:\n%s", err, output)
			}
			want := huntOutcome{caught: true, seed: 7, nodes: 5, runs: 14, check: test.assertion}
			if outcome != want {
				t.Fatalf("read as %+v, want %+v", outcome, want)
			}
		})
	}
}

// TestPanicForReadHunt is the child's side of
// TestReadHuntTellsTheCoresAssertions: it writes a "run" line and ends the
// way LOCKSTEP_STACK_PANIC says. Without the variable it skips.
func TestPanicForReadHunt(t *testing.T) {
	how := os.Getenv(panicVariable)
	if how == "" {
		t.Skip("run by TestReadHuntTellsTheCoresAssertions in a child process")
	}
	fmt.Println("hunt: run seed=7 nodes=5 runs=14")
	switch how {
	case "core-on-a-goroutine":
		done := make(chan struct{})
		go func() {
			advanceWithoutReady()
			close(done) // not reached: the panic ends the process
		}()
		<-done
	case "core-on-a-wait-group-goroutine":
		// WaitGroup.Go recovers a panic and raises it again.
		var group sync.WaitGroup
		group.Go(advanceWithoutReady)
		group.Wait()
	case "core-on-the-test-goroutine":
		advanceWithoutReady()
	case "look-alike-outside-the-core":
		panic("raft: Advance called without an outstanding Ready")
	case "nil-pointer":
		var core *raft.Core
		core.Tick()
	case "exit-without-a-result":
		os.Exit(0)
	}
	t.Fatalf("unknown way to end: %q", how)
}

// advanceWithoutReady breaks the core's API contract, which the core
// asserts with a panic.
func advanceWithoutReady() {
	core, err := raft.NewCore(raft.Config{ID: 1, Storage: raft.NewMemoryStorage(), Random: rand.NewPCG(1, 2),
		InitialMembership: raft.Membership{Voters: []raft.NodeID{1}}})
	if err != nil {
		panic(fmt.Sprintf("stack: %v", err))
	}
	core.Advance(raft.Ready{})
}

// TestReadHuntReadsTheChildsLastLine: a child that ends cleanly reports
// its catch, or that it caught nothing, on its last line.
func TestReadHuntReadsTheChildsLastLine(t *testing.T) {
	caught := "hunt: run seed=1 nodes=3 runs=1\nhunt: run seed=1 nodes=5 runs=2\nhunt: caught seed=1 nodes=5 runs=2 check=tick 9: restart: node 2 does not start\nPASS\n"
	outcome, err := readHunt(caught, nil)
	if want := (huntOutcome{caught: true, seed: 1, nodes: 5, runs: 2, check: "tick 9: restart: node 2 does not start"}); err != nil || outcome != want {
		t.Errorf("caught: %+v, %v; want %+v", outcome, err, want)
	}
	outcome, err = readHunt("hunt: run seed=1 nodes=3 runs=1\nhunt: uncaught runs=1\nPASS\n", nil)
	if err != nil || outcome.caught || outcome.runs != 1 {
		t.Errorf("uncaught: %+v, %v", outcome, err)
	}
	if _, err := readHunt("hunt: run seed=1 nodes=3 runs=1\n--- FAIL: TestHuntStorageMutation\nFAIL\n", errors.New("exit status 1")); err == nil || !strings.Contains(err.Error(), "without a panic") {
		t.Errorf("a failed child: %v", err)
	}
}
