package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// cancelOnLine cancels a context when a progress line containing trigger
// is written, so a test can interrupt a run at a known point.
type cancelOnLine struct {
	syncbuffer.Buffer
	trigger string
	cancel  context.CancelFunc
}

func (writer *cancelOnLine) Write(data []byte) (int, error) {
	if strings.Contains(string(data), writer.trigger) {
		writer.cancel()
	}
	return writer.Buffer.Write(data)
}

// TestInterruptStopsEveryProcess interrupts a run (as Ctrl-C does) while a
// fault is in effect and checks that the run reports the interruption and
// that no member process survives it.
func TestInterruptStopsEveryProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real etcd processes")
	}
	work := t.TempDir()
	runInterrupted(t, Config{
		System:          cluster.System{Kind: cluster.Etcd},
		Members:         3,
		Duration:        time.Minute,
		Faults:          []fault.Kind{fault.Pause},
		Seed:            4,
		WorkDirectory:   work,
		OutputDirectory: filepath.Join(work, "report"),
	})
}

// runInterrupted runs config, interrupting it (as Ctrl-C does) once the
// first fault is injected, and checks that the run says so and that no
// process with its work directory on the command line survives it.
func runInterrupted(t *testing.T, config Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &cancelOnLine{trigger: "fault injected", cancel: cancel}
	config.Progress = progress
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if !result.Interrupted || result.Passed() {
		t.Fatalf("interrupted run reported %q\n%s", result.Summary(), progress.String())
	}
	if survivors := processesMentioning(t, config.WorkDirectory); len(survivors) > 0 {
		t.Fatalf("processes still running with %s on their command line: %v", config.WorkDirectory, survivors)
	}
}

// processesMentioning returns the command lines of processes that mention
// text, read from /proc.
func processesMentioning(t *testing.T, text string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	var found []string
	for _, entry := range entries {
		commandLine, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "cmdline"))
		if err == nil && strings.Contains(string(commandLine), text) {
			found = append(found, strings.ReplaceAll(string(commandLine), "\x00", " "))
		}
	}
	return found
}
