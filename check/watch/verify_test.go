package watch

import (
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/check/history"
)

func put(revision int64, key, value string) Event {
	return Event{Revision: revision, Type: "PUT", Key: key, Value: value, Received: revision * 10}
}

func TestVerifyAcceptsACompleteOrderedStream(t *testing.T) {
	events := []Event{put(2, "a", "0-1"), put(3, "b", "1-1"), put(4, "a", "0-2")}
	if found := Verify(events, 1, 4, true); len(found) != 0 {
		t.Fatalf("Verify found %v in a good stream", found)
	}
}

func TestVerifyFindsBrokenStreams(t *testing.T) {
	cases := map[string]struct {
		events []Event
		want   string
	}{
		"duplicate":    {[]Event{put(2, "a", "x"), put(2, "a", "x"), put(3, "a", "y")}, "delivered twice"},
		"out of order": {[]Event{put(2, "a", "x"), put(4, "a", "z"), put(3, "a", "y")}, "after revision 4"},
		"gap":          {[]Event{put(2, "a", "x"), put(4, "a", "z")}, "revisions 3 to 3 never delivered"},
		"short":        {[]Event{put(2, "a", "x"), put(3, "a", "y")}, "ended at revision 3"},
		"value twice":  {[]Event{put(2, "a", "x"), put(3, "a", "x"), put(4, "a", "y")}, "written at revision 2 and again at 3"},
	}
	for name, testCase := range cases {
		t.Run(name, func(t *testing.T) {
			found := Verify(testCase.events, 1, 4, true)
			if !strings.Contains(strings.Join(found, "\n"), testCase.want) {
				t.Fatalf("Verify found %v, want a problem containing %q", found, testCase.want)
			}
		})
	}
	// Without contiguity (other writers), gaps are fine but order is not.
	if found := Verify([]Event{put(2, "a", "x"), put(9, "a", "y")}, 1, 12, false); len(found) != 0 {
		t.Fatalf("Verify without contiguity found %v", found)
	}
}

func TestCrossCheckFindsLostAndMisreportedWrites(t *testing.T) {
	events := []Event{put(2, "a", "0-1"), put(3, "a", "1-1")}
	good := []history.Operation{
		{ID: 0, Kind: history.Put, Key: "a", Value: "0-1", Outcome: history.Ok, Revision: 2},
		{ID: 1, Kind: history.CompareAndSwap, Key: "a", Value: "1-1", Outcome: history.Ok, Succeeded: true, Revision: 3},
		{ID: 2, Kind: history.Get, Key: "a", Outcome: history.Ok, ReadValue: "0-1", ModRevision: 2},
		{ID: 3, Kind: history.CompareAndSwap, Key: "a", Value: "2-1", Outcome: history.Ok, ReadValue: "1-1", ModRevision: 3},
	}
	if found := CrossCheck(good, events); len(found) != 0 {
		t.Fatalf("CrossCheck found %v in a consistent history", found)
	}
	bad := []history.Operation{
		{ID: 0, Kind: history.Put, Key: "a", Value: "9-9", Outcome: history.Ok, Revision: 7},
		{ID: 1, Kind: history.Get, Key: "a", Outcome: history.Ok, ReadValue: "0-1", ModRevision: 3},
	}
	found := strings.Join(CrossCheck(bad, events), "\n")
	for _, want := range []string{"acknowledged put a=9-9 at revision 7, but the watch shows nothing", "read a=0-1 with mod revision 3"} {
		if !strings.Contains(found, want) {
			t.Errorf("CrossCheck found %q, want it to contain %q", found, want)
		}
	}
}

func TestResolveSettlesAmbiguousWrites(t *testing.T) {
	events := []Event{put(2, "a", "0-1")}
	operations := []history.Operation{
		{ID: 0, Kind: history.Put, Key: "a", Value: "0-1", Call: 5, Return: history.Infinity, Outcome: history.Ambiguous},
		{ID: 1, Kind: history.CompareAndSwap, Key: "a", Value: "1-1", Call: 6, Return: history.Infinity, Outcome: history.Ambiguous},
	}
	resolved := Resolve(operations, events, true)
	if applied := resolved[0]; applied.Outcome != history.Ok || applied.Revision != 2 || applied.Return != 20 {
		t.Errorf("applied write resolved to %+v", applied)
	}
	if lost := resolved[1]; lost.Outcome != history.Failed || lost.Resolution == "" {
		t.Errorf("unapplied write resolved to %+v", lost)
	}
	if operations[0].Outcome != history.Ambiguous {
		t.Error("Resolve changed its input")
	}
	incomplete := Resolve(operations, events, false)
	if incomplete[1].Outcome != history.Ambiguous {
		t.Errorf("with an incomplete stream, an unseen write must stay ambiguous, got %+v", incomplete[1])
	}
}
