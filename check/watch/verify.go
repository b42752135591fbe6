package watch

import (
	"fmt"

	"github.com/lockstepdb/lockstep/check/history"
)

// maximumProblems caps each list of problems; the count of the rest is
// reported instead.
const maximumProblems = 20

// problems collects messages up to maximumProblems.
type problems struct {
	messages []string
	dropped  int
}

func (list *problems) add(format string, arguments ...any) {
	if len(list.messages) < maximumProblems {
		list.messages = append(list.messages, fmt.Sprintf(format, arguments...))
		return
	}
	list.dropped++
}

func (list *problems) result() []string {
	if list.dropped > 0 {
		return append(list.messages, fmt.Sprintf("... and %d more", list.dropped))
	}
	return list.messages
}

// Verify checks the delivered stream: strictly increasing revisions (so
// none twice and none out of order), no value written twice (every write
// writes a unique value), and, when contiguous (the checker's clients were
// the only writers), every revision after start up to final exactly once.
func Verify(events []Event, start, final int64, contiguous bool) []string {
	var found problems
	seenValues := map[string]int64{}
	previous := start
	for _, event := range events {
		switch {
		case event.Revision == previous:
			found.add("revision %d delivered twice", event.Revision)
		case event.Revision < previous:
			found.add("revision %d delivered after revision %d", event.Revision, previous)
		case contiguous && event.Revision > previous+1:
			found.add("revisions %d to %d never delivered (next was %d)", previous+1, event.Revision-1, event.Revision)
		}
		if event.Type == "PUT" {
			valueKey := event.Key + "=" + event.Value
			if earlier, seen := seenValues[valueKey]; seen {
				found.add("%s written at revision %d and again at %d", valueKey, earlier, event.Revision)
			}
			seenValues[valueKey] = event.Revision
		}
		if event.Revision > previous {
			previous = event.Revision
		}
	}
	if contiguous && previous < final {
		found.add("the stream ended at revision %d, the store is at %d", previous, final)
	}
	return found.result()
}

// CrossCheck compares the stream with what the clients were told: each
// acknowledged write must appear at the revision its response gave, with
// its key and value, and each value a read returned with a mod revision
// must be the one the stream shows at that revision.
func CrossCheck(operations []history.Operation, events []Event) []string {
	byRevision := map[int64]Event{}
	for _, event := range events {
		byRevision[event.Revision] = event
	}
	var found problems
	for _, operation := range operations {
		if operation.Outcome != history.Ok {
			continue
		}
		acknowledgedWrite := operation.Kind == history.Put || (operation.Kind == history.CompareAndSwap && operation.Succeeded)
		if acknowledgedWrite {
			// A write settled by Resolve agrees with the stream by construction.
			event, seen := byRevision[operation.Revision]
			if operation.Resolution == "" && (!seen || event.Key != operation.Key || event.Value != operation.Value) {
				found.add("acknowledged %s %s=%s at revision %d, but the watch shows %s", operation.Kind,
					operation.Key, operation.Value, operation.Revision, describe(event, seen))
			}
			continue
		}
		if operation.ReadValue != "" {
			event, seen := byRevision[operation.ModRevision]
			if !seen || event.Key != operation.Key || event.Value != operation.ReadValue {
				found.add("operation %d read %s=%s with mod revision %d, but the watch shows %s", operation.ID,
					operation.Key, operation.ReadValue, operation.ModRevision, describe(event, seen))
			}
		}
	}
	return found.result()
}

func describe(event Event, seen bool) string {
	if !seen {
		return "nothing at that revision"
	}
	return fmt.Sprintf("%s %s=%s", event.Type, event.Key, event.Value)
}

// Resolve settles ambiguous writes from the stream and returns the updated
// history. A write whose unique value the stream shows was applied: it
// becomes Ok, with the revision it created and, as return time, when the
// stream delivered it (it took effect before that). When the stream is
// known complete (Verify found nothing, contiguous), a write it does not
// show was never applied and becomes Failed, which leaves it out of the
// linearizability check. Without this, each ambiguous write stays open to
// the end of the history and the search grows with every one of them.
func Resolve(operations []history.Operation, events []Event, complete bool) []history.Operation {
	byValue := map[string]Event{}
	for _, event := range events {
		if event.Type == "PUT" {
			byValue[event.Key+"="+event.Value] = event
		}
	}
	resolved := append([]history.Operation(nil), operations...)
	for index := range resolved {
		operation := &resolved[index]
		if operation.Outcome != history.Ambiguous {
			continue
		}
		event, applied := byValue[operation.Key+"="+operation.Value]
		switch {
		case applied:
			operation.Outcome, operation.Revision = history.Ok, event.Revision
			operation.Return = max(event.Received, operation.Call)
			operation.Succeeded = operation.Kind == history.CompareAndSwap
			operation.Resolution = fmt.Sprintf("applied at revision %d (seen by the watch)", event.Revision)
		case complete:
			operation.Outcome = history.Failed
			operation.Resolution = "not applied (absent from the complete watch stream)"
		}
	}
	return resolved
}
