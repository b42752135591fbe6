package main

import (
	"fmt"
	"io"

	"github.com/lockstepdb/lockstep/loadgen"
)

// runProgress shows a run's progress: loadgen's bar when the log is a
// terminal; otherwise, for a long prefill (big-store's), a line at every
// tenth of it, so that a log file shows the run is alive.
type runProgress struct {
	bar    *loadgen.ProgressBar
	log    io.Writer
	label  string
	tenths map[string]int64 // prefill stage: the last tenth logged
}

// longPrefill is the smallest prefill logged line by line.
const longPrefill = 100_000

func newRunProgress(log io.Writer, config loadgen.Config, label string) *runProgress {
	return &runProgress{bar: loadgen.NewProgressBar(log, config, false), log: log, label: label, tenths: map[string]int64{}}
}

// update is the run's loadgen.Config.Progress.
func (p *runProgress) update(report loadgen.Progress) {
	if p.bar.Drawing() {
		p.bar.Update(report)
		return
	}
	if report.Phase != loadgen.PhasePrefill || report.Total < longPrefill {
		return
	}
	if tenth := report.Done * 10 / report.Total; tenth > p.tenths[report.Stage] {
		p.tenths[report.Stage] = tenth
		fmt.Fprintf(p.log, "compare: %s: %s\n", p.label, loadgen.DescribeProgress(report))
	}
}

// finish clears the bar.
func (p *runProgress) finish() { p.bar.Finish() }
