package history

import (
	"bytes"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestRecorderNumbersOperationsFromManyGoroutines(t *testing.T) {
	var recorder Recorder
	var group sync.WaitGroup
	for client := range 8 {
		group.Add(1)
		go func() {
			defer group.Done()
			for range 100 {
				recorder.Add(Operation{Client: client, Kind: Get})
			}
		}()
	}
	group.Wait()
	operations := recorder.Operations()
	if len(operations) != 800 {
		t.Fatalf("recorded %d operations, want 800", len(operations))
	}
	for index, operation := range operations {
		if operation.ID != index {
			t.Fatalf("operation %d has ID %d", index, operation.ID)
		}
	}
}

func TestJSONLinesRoundTrip(t *testing.T) {
	operations := []Operation{
		{ID: 0, Client: 1, Kind: Put, Key: "k", Value: "1.0", Call: 5, Return: 9, Outcome: Ok, Revision: 2},
		{ID: 1, Client: 2, Kind: CompareAndSwap, Key: "k", Compare: CompareModRevision, ExpectedValue: "1.0",
			ExpectedRevision: 2, Value: "2.0", Call: 6, Return: Infinity, Outcome: Ambiguous, Error: "deadline"},
	}
	var buffer bytes.Buffer
	if err := WriteJSONLines(&buffer, operations); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buffer.String(), "\n"); lines != 2 {
		t.Fatalf("wrote %d lines, want 2:\n%s", lines, buffer.String())
	}
	read, err := ReadJSONLines(&buffer)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, operations) {
		t.Fatalf("read back %+v, want %+v", read, operations)
	}
	if _, err := ReadJSONLines(strings.NewReader("{not json\n")); err == nil {
		t.Fatal("ReadJSONLines accepted a broken line")
	}
}

func TestClockNeverGoesBackwards(t *testing.T) {
	clock := NewClock()
	previous := clock.Now()
	for range 1000 {
		now := clock.Now()
		if now < previous {
			t.Fatalf("clock went from %d to %d", previous, now)
		}
		previous = now
	}
}
