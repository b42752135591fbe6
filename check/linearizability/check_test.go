package linearizability

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/lockstepdb/lockstep/check/history"
)

// The helpers build operations on key "k" (unless said otherwise) from
// client, call and return times.

func get(client int, call, ret int64, value string) history.Operation {
	return history.Operation{Client: client, Kind: history.Get, Key: "k", Call: call, Return: ret, Outcome: history.Ok, ReadValue: value}
}

func put(client int, call, ret int64, value string) history.Operation {
	return history.Operation{Client: client, Kind: history.Put, Key: "k", Value: value, Call: call, Return: ret, Outcome: history.Ok}
}

func ambiguous(operation history.Operation) history.Operation {
	operation.Outcome = history.Ambiguous
	operation.Return = history.Infinity
	return operation
}

func compareAndSwap(client int, call, ret int64, expected, value string, succeeded bool, seen string) history.Operation {
	return history.Operation{
		Client: client, Kind: history.CompareAndSwap, Key: "k", Compare: history.CompareValue,
		ExpectedValue: expected, Value: value, Call: call, Return: ret, Outcome: history.Ok,
		Succeeded: succeeded, ReadValue: seen,
	}
}

func onKey(key string, operation history.Operation) history.Operation {
	operation.Key = key
	return operation
}

func TestCheckerVerdicts(t *testing.T) {
	cases := []struct {
		name       string
		operations []history.Operation
		want       porcupine.CheckResult
	}{
		{"sequential put then get", []history.Operation{put(0, 0, 10, "a"), get(1, 20, 30, "a")}, porcupine.Ok},
		{"read of an absent key", []history.Operation{get(0, 0, 10, "")}, porcupine.Ok},
		{"concurrent read may see old or new value", []history.Operation{
			put(0, 0, 10, "a"), put(0, 20, 40, "b"), get(1, 25, 30, "a"), get(2, 26, 31, "b"),
		}, porcupine.Ok},
		{"stale read after a newer write returned", []history.Operation{
			put(0, 0, 10, "a"), put(0, 20, 30, "b"), get(1, 40, 50, "a"),
		}, porcupine.Illegal},
		{"read goes back in time", []history.Operation{
			put(0, 0, 10, "a"), put(0, 20, 100, "b"), get(1, 30, 40, "b"), get(2, 50, 60, "a"),
		}, porcupine.Illegal},
		{"lost acknowledged write", []history.Operation{
			put(0, 0, 10, "a"), get(1, 20, 30, ""),
		}, porcupine.Illegal},
		{"read of a value nobody wrote", []history.Operation{get(0, 0, 10, "ghost")}, porcupine.Illegal},
		{"ambiguous write that was applied", []history.Operation{
			ambiguous(put(0, 0, 10, "a")), get(1, 20, 30, "a"),
		}, porcupine.Ok},
		{"ambiguous write that was never applied", []history.Operation{
			ambiguous(put(0, 0, 10, "a")), get(1, 20, 30, ""), get(1, 40, 50, ""),
		}, porcupine.Ok},
		{"ambiguous write cannot vanish once seen", []history.Operation{
			put(2, 0, 5, "z"), ambiguous(put(0, 6, 10, "a")), get(1, 20, 30, "a"), get(1, 40, 50, "z"),
		}, porcupine.Illegal},
		{"compare-and-swap that held", []history.Operation{
			put(0, 0, 10, "a"), compareAndSwap(1, 20, 30, "a", "b", true, ""), get(2, 40, 50, "b"),
		}, porcupine.Ok},
		{"compare-and-swap that failed and saw the value", []history.Operation{
			put(0, 0, 10, "a"), compareAndSwap(1, 20, 30, "x", "b", false, "a"), get(2, 40, 50, "a"),
		}, porcupine.Ok},
		{"compare-and-swap succeeded on a wrong value", []history.Operation{
			put(0, 0, 10, "a"), compareAndSwap(1, 20, 30, "x", "b", true, ""),
		}, porcupine.Illegal},
		{"compare-and-swap failed although the value matched", []history.Operation{
			put(0, 0, 10, "a"), compareAndSwap(1, 20, 30, "a", "b", false, "a"),
		}, porcupine.Illegal},
		{"failed compare-and-swap saw a stale value", []history.Operation{
			put(0, 0, 10, "a"), put(0, 20, 30, "b"), compareAndSwap(1, 40, 50, "x", "c", false, "a"),
		}, porcupine.Illegal},
		{"ambiguous compare-and-swap settles either way", []history.Operation{
			put(0, 0, 10, "a"),
			ambiguous(compareAndSwap(1, 20, 30, "a", "b", false, "")),
			get(2, 40, 50, "b"),
		}, porcupine.Ok},
		{"keys are independent", []history.Operation{
			onKey("x", put(0, 0, 10, "a")), onKey("y", get(1, 20, 30, "")), onKey("x", get(1, 40, 50, "a")),
		}, porcupine.Ok},
		{"a violation on one key among many", []history.Operation{
			onKey("x", put(0, 0, 10, "a")), onKey("y", put(1, 0, 10, "b")), onKey("y", get(1, 40, 50, "")),
		}, porcupine.Illegal},
		{"failed reads are not checked", []history.Operation{
			put(0, 0, 10, "a"), {Client: 1, Kind: history.Get, Key: "k", Call: 20, Return: 30, Outcome: history.Failed},
		}, porcupine.Ok},
	}
	for _, testCase := range cases {
		t.Run(testCase.name, func(t *testing.T) {
			result, _ := Check(testCase.operations, 0)
			if result != testCase.want {
				t.Fatalf("Check = %s, want %s", result, testCase.want)
			}
		})
	}
}

func TestCheckCountsCheckedOperations(t *testing.T) {
	operations := []history.Operation{
		put(0, 0, 10, "a"),
		{Client: 1, Kind: history.Get, Key: "k", Call: 20, Return: 30, Outcome: history.Failed},
		get(1, 40, 50, "a"),
	}
	if _, checked := Check(operations, 0); checked != 2 {
		t.Fatalf("checked %d operations, want 2 (the failed read is left out)", checked)
	}
}

func TestVisualizeWritesHTML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.html")
	operations := []history.Operation{put(0, 0, 10, "a"), put(0, 20, 30, "b"), get(1, 40, 50, "a")}
	annotations := []porcupine.Annotation{{Tag: "faults", Start: 5, End: 25, Description: "kill member-1"}}
	if err := Visualize(operations, annotations, 0, path); err != nil {
		t.Fatal(err)
	}
	contents, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", "get(k) → a", "kill member-1"} {
		if !strings.Contains(string(contents), want) {
			t.Errorf("visualization does not contain %q", want)
		}
	}
}

func TestFailingKeysNamesOnlyTheBrokenKeys(t *testing.T) {
	operations := []history.Operation{
		onKey("x", put(0, 0, 10, "a")), onKey("x", get(1, 20, 30, "a")),
		onKey("y", put(0, 0, 10, "b")), onKey("y", get(1, 20, 30, "")),
		onKey("z", get(2, 0, 10, "ghost")),
	}
	if failing := FailingKeys(operations, 0); !reflect.DeepEqual(failing, []string{"y", "z"}) {
		t.Fatalf("FailingKeys = %v, want [y z]", failing)
	}
}
