package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestSimPrintsOneSummaryLine(t *testing.T) {
	out, err := runCommand(t, "sim", "--seeds", "20", "--steps", "1000")
	if err != nil {
		t.Fatalf("sim failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	summary := regexp.MustCompile(`^sim: 20 seeds x 1000 steps, 0 violations, 0 non-linearizable histories$`)
	if len(lines) != 1 || !summary.MatchString(lines[0]) {
		t.Fatalf("output %q, want exactly one summary line", out)
	}
}

func TestSimTraceReplaysOneSeed(t *testing.T) {
	out, err := runCommand(t, "sim", "--seed", "5", "--steps", "300", "--trace")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"seed 5:", "deliver", "sim: 1 seeds x 300 steps, 0 violations, 0 non-linearizable histories"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
}

// The whole-stack mode runs real node runtimes in real time; the generous
// liveness bound keeps a loaded machine from failing the run.
func TestSimStackPrintsOneSummaryLine(t *testing.T) {
	out, err := runCommand(t, "sim", "--stack", "--seeds", "3", "--steps", "15", "--nodes", "3", "--liveness-ticks", "30000")
	if err != nil {
		t.Fatalf("sim --stack failed: %v\n%s", err, out)
	}
	summary := regexp.MustCompile(`^sim --stack: 3 seeds x 15 operations \(3 nodes, tick 1ms; 2 with durable state machines\), 0 violations, 0 non-linearizable histories$`)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !summary.MatchString(lines[0]) {
		t.Fatalf("output %q, want exactly one summary line", out)
	}
}

func TestSimRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "--faults", "meteor"},
		{"sim", "--nodes", "0"},
		{"sim", "--seeds", "0"},
		{"sim", "--seeds", "3", "--trace"},
		{"sim", "extra-argument"},
		{"sim", "--stack", "--faults", "drop"},
		{"sim", "--stack", "--nodes", "8"},
		{"sim", "--stack", "--tick", "10us"},
	} {
		if _, err := runCommand(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
