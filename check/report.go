package check

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/check/history"
	"github.com/lockstepdb/lockstep/check/linearizability"
	"github.com/lockstepdb/lockstep/check/watch"
)

// Files of a failure report, in Config.OutputDirectory.
const (
	ReportSummaryFile = "summary.txt"
	ReportHistoryFile = "history.jsonl"
	ReportFaultsFile  = "faults.jsonl"
	ReportWatchFile   = "watch.jsonl"
	ReportPictureFile = "history.html"
	ReportLogsFolder  = "logs"
)

// writeReport writes everything needed to understand a failed run: the
// verdict, seed and command; the operation log; the faults; the watch
// stream; porcupine's HTML picture with the faults drawn in (of the first
// key that is not linearizable, if any, as the picture of a whole long run
// is too large to read); member logs.
func (run *run) writeReport(result Result, operations []history.Operation, events []watch.Event) error {
	directory := run.config.OutputDirectory
	if err := os.MkdirAll(directory, 0o755); err != nil {
		return fmt.Errorf("check: report: %w", err)
	}
	faults := run.injector.Events()
	var summary strings.Builder
	fmt.Fprintf(&summary, "%s\nseed: %d\nrepeat: %s\n\nproblems:\n", result.Summary(), run.config.Seed, run.config.Command())
	fmt.Fprintf(&summary, "- porcupine: %s\n", result.Linearizability)
	for _, key := range result.FailingKeys {
		fmt.Fprintf(&summary, "- the history of key %s is not linearizable\n", key)
	}
	for _, problem := range result.Problems {
		fmt.Fprintf(&summary, "- %s\n", problem)
	}
	for _, unavailable := range result.Unavailable {
		fmt.Fprintf(&summary, "\nfault %s left out of the run: %s\n", unavailable.Kind, unavailable.Reason)
	}
	if err := os.WriteFile(filepath.Join(directory, ReportSummaryFile), []byte(summary.String()), 0o644); err != nil {
		return fmt.Errorf("check: report: %w", err)
	}
	if err := history.WriteJSONLinesFile(filepath.Join(directory, ReportHistoryFile), operations); err != nil {
		return err
	}
	if err := history.WriteJSONLinesFile(filepath.Join(directory, ReportFaultsFile), faults); err != nil {
		return err
	}
	if err := history.WriteJSONLinesFile(filepath.Join(directory, ReportWatchFile), events); err != nil {
		return err
	}
	run.logger.Info("drawing the history", "file", filepath.Join(directory, ReportPictureFile))
	drawn := operations
	if len(result.FailingKeys) > 0 {
		drawn = onKey(operations, result.FailingKeys[0])
	}
	if err := linearizability.Visualize(drawn, annotations(faults), run.config.CheckTimeout,
		filepath.Join(directory, ReportPictureFile)); err != nil {
		return err
	}
	return run.copyMemberLogs(filepath.Join(directory, ReportLogsFolder))
}

// onKey returns the operations on key.
func onKey(operations []history.Operation, key string) []history.Operation {
	var selected []history.Operation
	for _, operation := range operations {
		if operation.Key == key {
			selected = append(selected, operation)
		}
	}
	return selected
}

// annotations draws each fault as a bar on porcupine's time line.
func annotations(faults []fault.Event) []porcupine.Annotation {
	var drawn []porcupine.Annotation
	for _, event := range faults {
		details := event.InjectError + event.HealError
		color := "#fde2c8"
		if !event.Injected() {
			color = "#e0e0e0"
		}
		drawn = append(drawn, porcupine.Annotation{Tag: "faults", Start: event.Start, End: event.End,
			Description: string(event.Kind), Details: event.Description + " " + details, BackgroundColor: color})
	}
	return drawn
}

// copyMemberLogs copies each member's log next to the report, as the work
// directory holding them is removed when the run ends.
func (run *run) copyMemberLogs(directory string) error {
	paths := run.cluster.LogPaths()
	if len(paths) == 0 {
		return nil
	}
	if err := os.MkdirAll(directory, 0o755); err != nil {
		return fmt.Errorf("check: report: %w", err)
	}
	for name, path := range paths {
		if err := copyFile(path, filepath.Join(directory, name+".log")); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	source, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("check: report: %w", err)
	}
	defer source.Close()
	destination, err := os.Create(to)
	if err != nil {
		return fmt.Errorf("check: report: %w", err)
	}
	if _, err := io.Copy(destination, source); err != nil {
		destination.Close()
		return fmt.Errorf("check: report: copy %s: %w", from, err)
	}
	return destination.Close()
}
