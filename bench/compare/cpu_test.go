package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	line := "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 200 18446744073709551615\n"
	used, err := parseProcStat(line)
	if err != nil || used != 3*time.Second {
		t.Fatalf("parseProcStat = %v, %v; want 3s (300 ticks of 1/100 s)", used, err)
	}
	for _, bad := range []string{"", "4242 no parentheses", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1 0"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
	// This process has used some CPU, and the figure only grows.
	first, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		// Spin until at least one tick has been charged.
		if now, err := processCPU(os.Getpid()); err != nil || now > first {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("5 s of spinning charged no CPU time to this process")
}

func TestCPUPerOperationByRole(t *testing.T) {
	use := &cpuUse{MemberSeconds: []float64{0.3, 1.0, 0.1}, Leader: 1, GeneratorSeconds: 0.5}
	for role, want := range map[string]float64{roleLeader: 1000, roleFollowers: 200, roleGenerator: 500} {
		if got, ok := use.perOperation(role, 1000); !ok || got != want {
			t.Errorf("%s: %v µs (%v), want %v", role, got, ok, want)
		}
	}
	single := &cpuUse{MemberSeconds: []float64{0.2}, Leader: 0}
	if _, ok := single.perOperation(roleFollowers, 10); ok {
		t.Error("a system of one process has followers")
	}
	unknown := &cpuUse{MemberSeconds: []float64{0.2, 0.3, 0.4}, Leader: -1, GeneratorSeconds: 1}
	if _, ok := unknown.perOperation(roleLeader, 10); ok {
		t.Error("a leader figure without a known leader")
	}
	if _, ok := unknown.perOperation(roleGenerator, 0); ok {
		t.Error("a figure per operation without operations")
	}
	var missing *cpuUse
	if _, ok := missing.perOperation(roleGenerator, 10); ok {
		t.Error("a figure from no window")
	}
}

func TestCPUWindowsSampleEachStageAndFindTheLeader(t *testing.T) {
	pid := os.Getpid()
	windows := newCPUWindows([]int{pid, pid})
	windows.onMeasure("a", true)
	windows.onMeasure("a", false)
	windows.onMeasure("b", false) // never begun
	use := windows.use("a", []string{"x:1", "y:2"}, []string{"y:2"})
	if use == nil || use.Error != "" || len(use.MemberSeconds) != 2 || use.Leader != 1 {
		t.Fatalf("window a: %+v", use)
	}
	if b := windows.use("b", nil, nil); b == nil || !strings.Contains(b.Error, "not sampled at its beginning") {
		t.Fatalf("window b: %+v", b)
	}
	if windows.use("c", nil, nil) != nil {
		t.Fatal("a window that never closed has a figure")
	}
	gone := newCPUWindows([]int{1 << 30})
	gone.onMeasure("", true)
	gone.onMeasure("", false)
	if use := gone.use("", nil, nil); use == nil || use.Error == "" {
		t.Fatalf("a process that does not exist: %+v", use)
	}
}

func TestPathDisplayIsTheSameOnAnyMachine(t *testing.T) {
	systems := []system{{Name: "etcd", Command: []string{"/opt/etcd-bin/etcd"}}, {Name: "lockstep", Command: []string{"/tmp/run-1/lockstep", "serve"}}}
	display := newPathDisplay("/home/me/lockstep", "/tmp/run-1", "/home/me/.cache/go-build/exe/compare", systems)
	for in, want := range map[string]string{
		"/opt/etcd-bin/etcd --data-dir /tmp/run-1/etcd-round1/member1.1.data": "$LOCKSTEP_ETCD_BIN/etcd --data-dir $WORK/etcd-round1/member1.1.data",
		"/tmp/run-1/lockstep serve":                                    "$WORK/lockstep serve",
		"/home/me/.cache/go-build/exe/compare floor-server --listen x": "compare floor-server --listen x",
		"/home/me/lockstep/.cache/bin/etcd":                            "./.cache/bin/etcd",
	} {
		if got := display.Replace(in); got != want {
			t.Errorf("%q shown as %q, want %q", in, got, want)
		}
	}
	// The run's directory inside the repository is still $WORK.
	inside := newPathDisplay("/r", "/r/tmp/run", "/x/compare", []system{{Name: "etcd", Command: []string{"/r/.cache/bin/etcd"}}})
	if got := inside.Replace("/r/.cache/bin/etcd --data-dir /r/tmp/run/m1"); got != "./.cache/bin/etcd --data-dir $WORK/m1" {
		t.Errorf("shown as %q", got)
	}
}
