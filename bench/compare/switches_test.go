package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSwitchesAddsBothKinds(t *testing.T) {
	status := "Name:\tlockstep\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n"
	switches, err := parseSwitches(status)
	if err != nil || switches != 127 {
		t.Fatalf("parseSwitches = %d, %v; want 127", switches, err)
	}
	for name, bad := range map[string]string{
		"missing":   "Name:\tlockstep\nvoluntary_ctxt_switches:\t120\n",
		"not count": "voluntary_ctxt_switches:\tmany\nnonvoluntary_ctxt_switches:\t7\n",
	} {
		if _, err := parseSwitches(bad); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
}

func TestProcessSwitchesOfThisProcess(t *testing.T) {
	before, err := processSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // a sleep is a voluntary switch: the count must move
	after, err := processSwitches(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("switches went from %d to %d across a sleep", before, after)
	}
	if _, err := processSwitches(1 << 30); err == nil || !strings.Contains(err.Error(), "no threads") {
		t.Fatalf("a process that does not exist: %v", err)
	}
}

func TestSwitchesPerOperationByRole(t *testing.T) {
	use := &cpuUse{MemberSeconds: []float64{1, 1, 1}, MemberSwitches: []float64{3000, 1000, 2000}, Leader: 0, GeneratorSwitches: 500}
	for role, want := range map[string]float64{roleLeader: 3, roleFollowers: 1.5, roleGenerator: 0.5, roleMembers: 6} {
		if got, ok := use.switchesPerOperation(role, 1000); !ok || got != want {
			t.Errorf("%s: %v, %v; want %v", role, got, ok, want)
		}
	}
	older := &cpuUse{MemberSeconds: []float64{1, 1, 1}, Leader: 0}
	if _, ok := older.switchesPerOperation(roleLeader, 1000); ok {
		t.Error("a run that counted no switches gave a figure")
	}
}

func TestConcurrentFsyncPoolsEveryWriter(t *testing.T) {
	probe, err := measureConcurrentFsync(t.TempDir(), 50*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	if probe.Writes < 3 || probe.P50Ms <= 0 || probe.P99Ms < probe.P50Ms {
		t.Fatalf("probe %+v", probe)
	}
	if _, err := measureConcurrentFsync("/nonexistent-directory", time.Millisecond, 2); err == nil {
		t.Fatal("a probe in a missing directory succeeded")
	}
}

// The replicated write's probe counts rounds, each timed to its majority.
func TestQuorumFsyncTimesRoundsToAMajority(t *testing.T) {
	directory := t.TempDir()
	probe, err := measureQuorumFsync(directory, 50*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	if probe.Writes < 1 || probe.P50Ms <= 0 || probe.P99Ms < probe.P50Ms || probe.PerSecond <= 0 {
		t.Fatalf("probe %+v", probe)
	}
	// A round lasts at least its majority's time, so the rounds cannot
	// have run faster than their median allows.
	if perRound := probe.Seconds / float64(probe.Writes) * 1000; perRound < probe.P50Ms*0.5 {
		t.Errorf("%d rounds in %.3fs (%.3f ms each) with a median of %.3f ms", probe.Writes, probe.Seconds, perRound, probe.P50Ms)
	}
	if left, _ := os.ReadDir(directory); len(left) != 0 {
		t.Errorf("the probe left %d files behind", len(left))
	}
	if _, err := measureQuorumFsync("/nonexistent-directory", time.Millisecond, 3); err == nil {
		t.Fatal("a probe in a missing directory succeeded")
	}
	if _, err := measureQuorumFsync(directory, time.Millisecond, 0); err == nil {
		t.Fatal("a probe with no writers succeeded")
	}
}

func TestWakeProbeTimesEveryWake(t *testing.T) {
	probe := measureWake(20)
	if probe.Wakes != 20 || probe.P50Us <= 0 || probe.P99Us < probe.P50Us {
		t.Fatalf("probe %+v", probe)
	}
}
