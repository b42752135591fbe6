package stack

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/lockstepdb/lockstep/raft"
)

// This file reads what a child process hunting one storage mutation wrote
// (see TestStorageMutationsAreCaught, built with -tags mutation). It is
// compiled in every build so that its rules are tested without the tag.
//
// The child writes one line before each run and one at the end:
//
//	hunt: run seed=S nodes=N runs=R
//	hunt: caught seed=S nodes=N runs=R check=<the property broken>
//	hunt: uncaught runs=R
//
// A run that panics ends the child before its last line. Runs are
// sequential, so the last "run" line names the run that panicked.

// huntOutcome is what the child's output says about its mutation.
type huntOutcome struct {
	caught bool
	seed   uint64
	nodes  int
	runs   int
	// check is the property the run broke, or "assertion: <message>"
	// when the core's own assertion fired.
	check string
}

func (o huntOutcome) String() string {
	if !o.caught {
		return fmt.Sprintf("not caught in %d runs", o.runs)
	}
	return fmt.Sprintf("caught by seed %d with %d nodes (%d runs): %s", o.seed, o.nodes, o.runs, o.check)
}

var (
	huntRunLine    = regexp.MustCompile(`(?m)^hunt: run seed=(\d+) nodes=(\d+) runs=(\d+)$`)
	huntCaughtLine = regexp.MustCompile(`(?m)^hunt: caught seed=(\d+) nodes=(\d+) runs=(\d+) check=(.*)$`)
	huntUncaught   = regexp.MustCompile(`(?m)^hunt: uncaught runs=(\d+)$`)
)

// corePackagePrefix begins the name of every function of package raft in
// a traceback ("github.com/lockstepdb/lockstep/raft.(*Core).Advance").
var corePackagePrefix = reflect.TypeFor[raft.Core]().PkgPath() + "."

// readHunt interprets the output of a child that ended with exitErr (nil
// for a clean exit). A panic counts as a catch only if it is one of the
// core's own assertions: its value starts with "raft: " and the function
// that raised it is in package raft. Any other panic, and any other way
// of ending without a last line, is a harness failure, returned as an
// error: a bug in the runtime or the simulator must not pass for a catch.
func readHunt(output string, exitErr error) (huntOutcome, error) {
	if exitErr == nil {
		if match := huntCaughtLine.FindStringSubmatch(output); match != nil {
			seed, _ := strconv.ParseUint(match[1], 10, 64)
			nodes, _ := strconv.Atoi(match[2])
			runs, _ := strconv.Atoi(match[3])
			return huntOutcome{caught: true, seed: seed, nodes: nodes, runs: runs, check: match[4]}, nil
		}
		if match := huntUncaught.FindStringSubmatch(output); match != nil {
			runs, _ := strconv.Atoi(match[1])
			return huntOutcome{runs: runs}, nil
		}
		return huntOutcome{}, fmt.Errorf("the child exited without a result")
	}
	message, function, ok := panicOf(output)
	if !ok {
		return huntOutcome{}, fmt.Errorf("the child failed (%v) without a panic", exitErr)
	}
	if !strings.HasPrefix(message, "raft: ") || !strings.HasPrefix(function, corePackagePrefix) {
		return huntOutcome{}, fmt.Errorf("the child panicked outside the core's assertions: %q in %s", message, function)
	}
	runs := huntRunLine.FindAllStringSubmatch(output, -1)
	if len(runs) == 0 {
		return huntOutcome{}, fmt.Errorf("the core's assertion %q fired before any run", message)
	}
	last := runs[len(runs)-1]
	seed, _ := strconv.ParseUint(last[1], 10, 64)
	nodes, _ := strconv.Atoi(last[2])
	count, _ := strconv.Atoi(last[3])
	return huntOutcome{caught: true, seed: seed, nodes: nodes, runs: count, check: "assertion: " + message}, nil
}

// panicOf finds the first panic in a Go traceback: its message (the first
// line of the value) and the function that raised it. That function is
// the top frame of the goroutine printed first (the panicking one), or,
// when the panic was recovered and raised again (testing does this on a
// test's goroutine), the frame below the last panic( frame.
func panicOf(output string) (message, function string, ok bool) {
	start := strings.Index(output, "\npanic: ")
	if start < 0 {
		if !strings.HasPrefix(output, "panic: ") {
			return "", "", false
		}
	} else {
		output = output[start+1:]
	}
	lines := strings.Split(output, "\n")
	message = recoveredSuffix.ReplaceAllString(strings.TrimPrefix(lines[0], "panic: "), "")
	var frames []string
	inGoroutine := false
	for _, line := range lines[1:] {
		if !inGoroutine {
			inGoroutine = strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":")
			continue
		}
		if line == "" {
			break
		}
		if !strings.HasPrefix(line, "\t") {
			frames = append(frames, line)
		}
	}
	raiser := 0
	for i, frame := range frames {
		if strings.HasPrefix(frame, "panic(") {
			raiser = i + 1
		}
	}
	if raiser < len(frames) {
		function = frames[raiser]
	}
	return message, function, true
}

// recoveredSuffix is what the runtime appends to the value of a panic
// that was recovered and raised again.
var recoveredSuffix = regexp.MustCompile(` \[recovered[^\]]*\]$`)
