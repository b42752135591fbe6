package main

import (
	"fmt"
	"io"
	"strings"
)

// columnTitles are the table's headers for the systems.
var columnTitles = map[string]string{
	"etcd":       "etcd 3.7.3",
	"lockstep-1": "lockstep ×1",
	"lockstep-3": "lockstep ×3",
}

// caseNames returns every case of the runs, in the order the first run
// that has it started it.
func caseNames(runs []*systemRun) []string {
	seen := map[string]bool{}
	var names []string
	for _, run := range runs {
		if run.results == nil {
			continue
		}
		for _, name := range run.results.order {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	return names
}

// outcomeOf returns a case's outcome in a run.
func outcomeOf(run *systemRun, name string) outcome {
	if run.results == nil {
		return notRun
	}
	if outcome, ok := run.results.outcomes[name]; ok {
		return outcome
	}
	return notRun
}

// writeTable writes the pass table in Markdown: a row per top-level test,
// and a row per subtest that did not pass everywhere (every subtest with
// allRows), then the totals.
func writeTable(out io.Writer, runs []*systemRun, allRows bool) {
	header := []string{"case"}
	for _, run := range runs {
		title := columnTitles[run.system.Name]
		if title == "" {
			title = run.system.Name
		}
		header = append(header, title)
	}
	writeRow(out, header)
	separator := make([]string, len(header))
	for index := range separator {
		separator[index] = "---"
	}
	writeRow(out, separator)
	for _, name := range caseNames(runs) {
		row := []string{name}
		everywhere := true
		for _, run := range runs {
			outcome := outcomeOf(run, name)
			everywhere = everywhere && outcome == passed
			row = append(row, string(outcome))
		}
		if strings.Contains(name, "/") && everywhere && !allRows {
			continue
		}
		if strings.Contains(name, "/") {
			row[0] = "  " + name
		}
		writeRow(out, row)
	}
	for _, topLevelOnly := range []bool{true, false} {
		label := "**passed: top-level tests**"
		if !topLevelOnly {
			label = "**passed: all cases (with subtests)**"
		}
		row := []string{label}
		for _, run := range runs {
			if run.results == nil {
				row = append(row, "not run")
				continue
			}
			row = append(row, fmt.Sprintf("%d/%d", run.results.count(passed, topLevelOnly), run.results.total(topLevelOnly)))
		}
		writeRow(out, row)
	}
}

// writeRow writes one Markdown table row.
func writeRow(out io.Writer, cells []string) {
	fmt.Fprintf(out, "| %s |\n", strings.Join(cells, " | "))
}

// writeFailures writes, per system, why each failed leaf case failed (its
// first messages) and the run's notes.
func writeFailures(out io.Writer, runs []*systemRun) {
	for _, run := range runs {
		if run.err != nil {
			fmt.Fprintf(out, "\n%s: %v\n", run.system.Name, run.err)
		}
		for _, note := range run.notes {
			fmt.Fprintf(out, "\n%s: %s\n", run.system.Name, note)
		}
		if run.results == nil {
			continue
		}
		for _, name := range run.results.order {
			outcome := run.results.outcomes[name]
			if outcome == passed || outcome == skipped || hasFailedChild(run.results, name) {
				continue
			}
			fmt.Fprintf(out, "\n%s %s: %s\n", run.system.Name, name, outcome)
			for _, message := range run.results.why(name, 3) {
				fmt.Fprintf(out, "    %s\n", message)
			}
		}
	}
}

// hasFailedChild reports whether a subtest of name failed: its own
// failure then only repeats the child's.
func hasFailedChild(results *runResults, name string) bool {
	for child, outcome := range results.outcomes {
		if strings.HasPrefix(child, name+"/") && outcome != passed && outcome != skipped {
			return true
		}
	}
	return false
}
