//go:build mutation

package stack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/mutation"
)

// mutationSeeds bounds the seeds per cluster size a mutation may take to
// be caught. In repeated runs (goroutines interleave differently each
// time) snapshot-skip-fsync was caught within 16-125 seeds and
// wal-skip-checksum within 4-91; 500 leaves room for the tail.
var mutationSeeds = flag.Int("mutation-seeds", 500, "seeds per cluster size TestStorageMutationsAreCaught may try per mutation")

// huntVariable names, in a child process, the storage mutation it hunts.
const huntVariable = "LOCKSTEP_STACK_HUNT"

// TestStorageMutationsAreCaught switches on, one at a time, a deliberate
// bug in the runtime's storage (internal/mutation, compiled only with
// -tags mutation) and runs the whole-stack simulator, in virtual time, on
// seeds 1, 2, ... (a 3- and a 5-node cluster each) until one breaks a
// property. Every mutation must be caught within -mutation-seeds seeds.
//
// Each mutation is hunted in a child process: this test binary again,
// running TestHuntStorageMutation. Some mutations are caught by the core's
// own assertions (a Ready's entries reported durable that storage does
// not hold), which panic on a node's goroutine and end the process; a
// child that ends so is a catch, by that assertion, in the run its output
// last named (readHunt), and any other panic fails the test.
//
//	go test -tags mutation ./sim/stack -run TestStorageMutationsAreCaught -v -mutation-seeds 200
func TestStorageMutationsAreCaught(t *testing.T) {
	if os.Getenv(huntVariable) != "" {
		t.Skip("a child process hunts one mutation only")
	}
	for _, name := range mutation.All {
		t.Run(string(name), func(t *testing.T) {
			outcome, err := huntInChild(t, name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !outcome.caught {
				t.Fatalf("%s: no run of seeds 1-%d (3 and 5 nodes) broke a property", name, *mutationSeeds)
			}
			t.Logf("%s: %s", name, outcome)
		})
	}
}

// huntInChild runs TestHuntStorageMutation for name in a child process,
// bounded by the test's deadline, and reads its output.
func huntInChild(t *testing.T, name mutation.Name) (huntOutcome, error) {
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-5*time.Second))
		defer cancel()
	}
	command := exec.CommandContext(ctx, os.Args[0],
		"-test.run=^TestHuntStorageMutation$", "-test.count=1", "-test.timeout=0",
		fmt.Sprintf("-mutation-seeds=%d", *mutationSeeds))
	command.Env = append(os.Environ(), huntVariable+"="+string(name))
	output, err := command.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return huntOutcome{}, fmt.Errorf("run the child: %w", err)
	}
	if ctx.Err() != nil {
		return huntOutcome{}, fmt.Errorf("the child ran out of time: %w", ctx.Err())
	}
	outcome, err := readHunt(string(output), err)
	if err != nil {
		return huntOutcome{}, fmt.Errorf("%w; the child's output ends:\n%s", err, lastLines(string(output), 40))
	}
	return outcome, nil
}

// TestHuntStorageMutation is the child's side of
// TestStorageMutationsAreCaught: with the mutation named by
// LOCKSTEP_STACK_HUNT switched on, it runs seeds 1, 2, ... (3 and 5
// nodes) and writes, to its standard output, a line before each run and
// one at the end (the lines readHunt reads). Without the variable it
// skips.
func TestHuntStorageMutation(t *testing.T) {
	name := mutation.Name(os.Getenv(huntVariable))
	if name == "" {
		t.Skip("run by TestStorageMutationsAreCaught in a child process")
	}
	if err := mutation.Set(name); err != nil {
		t.Fatal(err)
	}
	defer mutation.Set("")
	runs := 0
	for seed := uint64(1); seed <= uint64(*mutationSeeds); seed++ {
		for _, nodes := range []int{3, 5} {
			runs++
			fmt.Printf("hunt: run seed=%d nodes=%d runs=%d\n", seed, nodes, runs)
			result, _ := runInBubble(t, Options{Seed: seed, Nodes: nodes})
			if result.Failed() {
				check := "linearizability"
				if result.Violation != nil {
					check = result.Violation.String()
				}
				check = strings.ReplaceAll(check, "\n", " | ")
				fmt.Printf("hunt: caught seed=%d nodes=%d runs=%d check=%s\n", seed, nodes, runs, check)
				return
			}
		}
	}
	fmt.Printf("hunt: uncaught runs=%d\n", runs)
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
