package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// outcome is what became of one test case in one system's run.
type outcome string

const (
	passed   outcome = "pass"
	failed   outcome = "FAIL"
	skipped  outcome = "skip"
	noResult outcome = "no result" // started, never finished: the run timed out or crashed
	notRun   outcome = "—"         // absent from this system's run
)

// testEvent is one line of `go tool test2json` output.
type testEvent struct {
	Action string
	Test   string
	Output string
}

// runResults are the outcomes of one system's run of the suite.
type runResults struct {
	// order lists the cases in the order they started.
	order    []string
	outcomes map[string]outcome
	// output is each case's own output lines.
	output map[string][]string
	// packageOutput is output outside any case (a panic, a timeout).
	packageOutput []string
}

// readResults reads test2json events until input ends, copying each
// output line to echo when it is not nil.
func readResults(input io.Reader, echo io.Writer) (*runResults, error) {
	results := &runResults{outcomes: map[string]outcome{}, output: map[string][]string{}}
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		var event testEvent
		if err := json.Unmarshal(scanner.Bytes(), &event); err != nil {
			// test2json passes through what it cannot frame.
			results.packageOutput = append(results.packageOutput, scanner.Text())
			continue
		}
		if echo != nil && event.Output != "" {
			io.WriteString(echo, event.Output)
		}
		results.record(event)
	}
	return results, scanner.Err()
}

// record applies one event.
func (r *runResults) record(event testEvent) {
	if event.Test == "" {
		if event.Output != "" {
			r.packageOutput = append(r.packageOutput, strings.TrimRight(event.Output, "\n"))
		}
		return
	}
	switch event.Action {
	case "run":
		if _, seen := r.outcomes[event.Test]; !seen {
			r.order = append(r.order, event.Test)
		}
		r.outcomes[event.Test] = noResult
	case "pass":
		r.outcomes[event.Test] = passed
	case "fail":
		r.outcomes[event.Test] = failed
	case "skip":
		r.outcomes[event.Test] = skipped
	case "output":
		r.output[event.Test] = append(r.output[event.Test], strings.TrimRight(event.Output, "\n"))
	}
}

// count returns how many cases have outcome, among all cases or, with
// topLevelOnly, among the top-level tests.
func (r *runResults) count(wanted outcome, topLevelOnly bool) int {
	count := 0
	for name, outcome := range r.outcomes {
		if topLevelOnly && strings.Contains(name, "/") {
			continue
		}
		if outcome == wanted {
			count++
		}
	}
	return count
}

// total returns how many cases ran, among all or only the top-level ones.
func (r *runResults) total(topLevelOnly bool) int {
	total := 0
	for name := range r.outcomes {
		if !topLevelOnly || !strings.Contains(name, "/") {
			total++
		}
	}
	return total
}

// failureLine matches a test's message: "file_test.go:123: text".
var failureLine = regexp.MustCompile(`^\s*([A-Za-z0-9_]+\.go:\d+: .*)$`)

// why returns the first messages a failed case printed, shortened.
func (r *runResults) why(test string, lines int) []string {
	var messages []string
	for _, line := range r.output[test] {
		match := failureLine.FindStringSubmatch(line)
		if match == nil || strings.HasPrefix(match[1], "feature_gate.go:") {
			continue
		}
		message := match[1]
		if len(message) > 320 {
			message = message[:320] + "…"
		}
		messages = append(messages, message)
		if len(messages) == lines {
			break
		}
	}
	return messages
}

// summary is a one-line account of the run.
func (r *runResults) summary() string {
	return fmt.Sprintf("%d/%d top-level tests and %d/%d cases in all passed",
		r.count(passed, true), r.total(true), r.count(passed, false), r.total(false))
}
