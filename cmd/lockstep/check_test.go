package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
)

func TestCheckRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"check", "--faults", "meteor"},
		{"check", "--system", "zookeeper"},
		{"check", "--members", "0"},
		{"check", "--duration", "0s"},
		{"check", "--endpoints", "http://127.0.0.1:1", "--faults", "kill"},
		{"check", "extra-argument"},
	} {
		if _, err := runCommand(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestCheckAgainstRunningCluster points `lockstep check --endpoints` at a
// real etcd cluster started separately, with leadership transfers (the
// only fault that needs no process control), and expects one summary line
// reporting a linearizable history.
func TestCheckAgainstRunningCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real etcd processes")
	}
	system, err := cluster.System{Kind: cluster.Etcd}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	running, err := cluster.Start(ctx, cluster.Config{System: system, Size: 3, Directory: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()

	out, err := runCommand(t, "check", "--endpoints", strings.Join(running.Endpoints(), ","),
		"--duration", "6s", "--seed", "3", "--quiet", "--out-dir", t.TempDir())
	if err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	summary := regexp.MustCompile(`^check: [1-9][0-9]* ops, [0-9]+ faults \(transfer [0-9]+\), linearizable$`)
	if !summary.MatchString(lines[len(lines)-1]) {
		t.Fatalf("output %q does not end with a passing summary line", out)
	}
	for _, line := range lines[:len(lines)-1] {
		if strings.HasPrefix(line, "check: ") && strings.Contains(line, " ops, ") {
			t.Fatalf("more than one summary line in %q", out)
		}
	}
}
