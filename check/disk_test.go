package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// binaryDirectory holds the lockstep binary the tests build; TestMain
// removes it.
var binaryDirectory string

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDirectory != "" {
		os.RemoveAll(binaryDirectory)
	}
	os.Exit(code)
}

// lockstepBinary builds cmd/lockstep once for the tests that run lockstep
// members (a test binary cannot serve as one).
var lockstepBinary = sync.OnceValues(func() (string, error) {
	directory, err := os.MkdirTemp("", "lockstep-check-binary-")
	if err != nil {
		return "", err
	}
	binaryDirectory = directory
	binary := filepath.Join(directory, "lockstep")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/lockstep")
	build.Dir = ".."
	if output, err := build.CombinedOutput(); err != nil {
		return "", &buildError{output: string(output), err: err}
	}
	return binary, nil
})

type buildError struct {
	output string
	err    error
}

func (e *buildError) Error() string {
	return "go build ./cmd/lockstep: " + e.err.Error() + "\n" + e.output
}

// needsDisks skips a test that mounts a tmpfs for each member unless it
// runs as root (CI does), and returns the lockstep binary.
func needsDisks(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds lockstep and runs a real cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("the diskfull fault mounts a tmpfs for each member, which needs root (CI runs as root)")
	}
	binary, err := lockstepBinary()
	if err != nil {
		t.Fatal(err)
	}
	return binary
}

// diskFullConfig is a short lockstep run with only the diskfull fault.
func diskFullConfig(t *testing.T, binary, work string) Config {
	return Config{
		System:          cluster.System{Kind: cluster.Lockstep, Binary: binary, SnapshotCount: DefaultSnapshotCount},
		Members:         3,
		Duration:        25 * time.Second,
		Faults:          []fault.Kind{fault.DiskFull},
		Seed:            21,
		WorkDirectory:   work,
		OutputDirectory: filepath.Join(t.TempDir(), "report"),
	}
}

// othersCommitted matches what a diskfull fault observed of the other
// members.
var othersCommitted = regexp.MustCompile(`the others committed from revision (\d+) to (\d+)`)

// TestDiskFullFaultIsSurvived runs three lockstep members, each on a tmpfs
// of its own, for 25 s of diskfull faults only: the fault must take place,
// the full member must say so (Status lists DISK FULL, or RAFT LOG DISK
// FULL) while the others commit, the history must be linearizable and
// the members converge (HashKV), and no tmpfs may stay mounted.
func TestDiskFullFaultIsSurvived(t *testing.T) {
	binary := needsDisks(t)
	work := t.TempDir()
	var progress syncbuffer.Buffer
	config := diskFullConfig(t, binary, work)
	config.Progress = &progress
	result, err := Run(context.Background(), config)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Log(result.Summary())
	if !result.Passed() {
		t.Fatalf("%s\nproblems: %v\n%s", result.Summary(), result.Problems, progress.String())
	}
	if len(result.FaultsByKind) != 1 || result.FaultsByKind[0].Kind != fault.DiskFull || result.FaultsByKind[0].Count < 1 {
		t.Fatalf("%s: no diskfull fault took place\n%s", result.Summary(), progress.String())
	}
	reported := false
	for _, event := range result.FaultEvents {
		match := othersCommitted.FindStringSubmatch(event.Observed)
		if !event.Injected() || !strings.Contains(event.Observed, "DISK FULL after") || match == nil {
			continue
		}
		before, _ := strconv.Atoi(match[1])
		after, _ := strconv.Atoi(match[2])
		reported = reported || after > before
	}
	if !reported {
		t.Fatalf("no diskfull fault saw the full member report its disk while the others committed: %+v\n%s", result.FaultEvents, progress.String())
	}
	if mounts := mountsUnder(t, work); len(mounts) > 0 {
		t.Fatalf("still mounted after the run: %v", mounts)
	}
}

// TestInterruptUnmountsEveryDisk interrupts a run (as Ctrl-C does) while
// a member's disk is full: no member process and no tmpfs may survive it.
func TestInterruptUnmountsEveryDisk(t *testing.T) {
	binary := needsDisks(t)
	work := t.TempDir()
	runInterrupted(t, diskFullConfig(t, binary, work))
	if mounts := mountsUnder(t, work); len(mounts) > 0 {
		t.Fatalf("still mounted after the interrupted run: %v", mounts)
	}
}

// mountsUnder returns the mount points under directory, from
// /proc/self/mountinfo.
func mountsUnder(t *testing.T, directory string) []string {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip("no /proc/self/mountinfo on this system")
	}
	var mounts []string
	for _, line := range strings.Split(string(info), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && strings.HasPrefix(fields[4], directory) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}

// TestUnavailableDiskFaultIsLeftOutAndSaid: diskfull against etcd is
// refused when asked for, left out of a default set (and said so in the
// summary line) otherwise.
func TestUnavailableDiskFaultIsLeftOutAndSaid(t *testing.T) {
	config := Config{System: cluster.System{Kind: cluster.Etcd}, Faults: []fault.Kind{fault.Kill, fault.DiskFull}}.WithDefaults()
	if err := config.Validate(); err == nil || !strings.Contains(err.Error(), "diskfull") {
		t.Fatalf("diskfull asked for against etcd: %v, want a refusal naming it", err)
	}
	config.DropUnavailableFaults = true
	if err := config.Validate(); err != nil {
		t.Fatalf("diskfull in a default set against etcd: %v, want it left out", err)
	}
	kinds, reason := config.disklessReason()
	if len(kinds) != 1 || reason == "" || config.withoutFaults(kinds).needsDisks() {
		t.Fatalf("left out %v (%q)", kinds, reason)
	}
	result := Result{Operations: 5, Faults: 1, Linearizability: porcupine.Ok,
		FaultsByKind: []fault.KindCount{{Kind: fault.Kill, Count: 1}},
		Unavailable:  []UnavailableFault{{Kind: fault.DiskFull, Reason: reason}}}
	if got, want := result.Summary(), "check: 5 ops, 1 faults (kill 1, diskfull unavailable), linearizable"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
}
