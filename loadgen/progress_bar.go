package loadgen

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ProgressBar draws a run's progress on a terminal, one bar per phase
// (and per stage of big-store): the prefill counts keys written out of
// the key space, the warm-up and a measured phase bounded by time count
// milliseconds, one bounded by --total counts operations. Its Update is
// made to be Config.Progress.
type ProgressBar struct {
	bar     *progressbar.ProgressBar // nil when not drawing
	config  Config
	current string // the stage and phase the bar shows
}

// NewProgressBar returns a bar drawing on out when out is a terminal and
// quiet is false; otherwise one that draws nothing.
func NewProgressBar(out io.Writer, config Config, quiet bool) *ProgressBar {
	progress := &ProgressBar{config: config}
	file, isFile := out.(*os.File)
	if quiet || !isFile || !term.IsTerminal(int(file.Fd())) {
		return progress
	}
	progress.bar = progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
	)
	return progress
}

// Drawing reports whether the bar draws anything.
func (p *ProgressBar) Drawing() bool { return p.bar != nil }

// Update shows report; called by Run, never concurrently.
func (p *ProgressBar) Update(report Progress) {
	if p.bar == nil {
		return
	}
	limit, position := p.scale(report)
	if key := report.Stage + "/" + string(report.Phase); key != p.current {
		p.current = key
		p.bar.Reset()
		p.bar.ChangeMax64(max(limit, 1))
	}
	p.bar.Describe(DescribeProgress(report))
	p.bar.Set64(min(max(position, 0), max(limit, 1)))
}

// scale returns the bar's length and position for report.
func (p *ProgressBar) scale(report Progress) (limit, position int64) {
	switch report.Phase {
	case PhasePrefill:
		return report.Total, report.Done
	case PhaseWarmup:
		return p.config.Warmup.Milliseconds(), report.Elapsed.Milliseconds()
	}
	if p.config.Total > 0 {
		return p.config.Total, report.Done
	}
	return p.config.Duration.Milliseconds(), report.Elapsed.Milliseconds()
}

// Finish clears the bar so that what follows starts on a clean line.
func (p *ProgressBar) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// DescribeProgress returns a one-line description of report: the stage,
// the phase, the counts and the rate so far.
func DescribeProgress(report Progress) string {
	description := fmt.Sprintf("%-7s", report.Phase)
	if report.Stage != "" {
		description = report.Stage + " " + description
	}
	if report.Phase == PhasePrefill {
		description += fmt.Sprintf(" %d/%d keys, %d failed transactions", report.Done, report.Total, report.Errors)
	} else {
		description += fmt.Sprintf(" %d done, %d errors", report.Done, report.Errors)
	}
	if seconds := report.Elapsed.Seconds(); seconds > 0 {
		switch {
		case report.Phase == PhasePrefill:
			description += fmt.Sprintf(", %.0f keys/s", float64(report.Done)/seconds)
		case report.Phase == PhaseMeasure && report.Events > 0:
			description += fmt.Sprintf(", %.0f ops/s, %.0f events/s", float64(report.Done-report.Errors)/seconds, float64(report.Events)/seconds)
		case report.Phase == PhaseMeasure:
			description += fmt.Sprintf(", %.0f ops/s", float64(report.Done-report.Errors)/seconds)
		}
	}
	return description
}
