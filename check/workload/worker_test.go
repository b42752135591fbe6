package workload

import (
	"math/rand/v2"
	"testing"

	"github.com/lockstepdb/lockstep/check/history"
)

func TestNextChoosesUniqueValuesAndSensibleCompares(t *testing.T) {
	worker := &worker{id: 4, random: rand.New(rand.NewPCG(1, 2)), keys: []string{"a", "b"}, known: map[string]knowledge{}}
	worker.known["a"] = knowledge{value: "1-7", revision: 12}
	values := map[string]bool{}
	kinds := map[history.Kind]int{}
	compares := map[history.Compare]int{}
	for range 2000 {
		operation := worker.next()
		kinds[operation.Kind]++
		if operation.Kind == history.Get {
			continue
		}
		if values[operation.Value] {
			t.Fatalf("value %s written twice", operation.Value)
		}
		values[operation.Value] = true
		if operation.Kind != history.CompareAndSwap {
			continue
		}
		compares[operation.Compare]++
		switch operation.Key {
		case "a":
			if operation.ExpectedValue != "1-7" ||
				(operation.Compare == history.CompareModRevision && operation.ExpectedRevision != 12) {
				t.Fatalf("compare on a known key: %+v", operation)
			}
		case "b":
			if operation.Compare != history.CompareModRevision || operation.ExpectedRevision != 0 || operation.ExpectedValue != "" {
				t.Fatalf("compare on an unknown key must be create-if-absent: %+v", operation)
			}
		}
	}
	if kinds[history.Get] == 0 || kinds[history.Put] == 0 || kinds[history.CompareAndSwap] == 0 {
		t.Fatalf("operation mix %v lacks a kind", kinds)
	}
	if compares[history.CompareValue] == 0 || compares[history.CompareModRevision] == 0 {
		t.Fatalf("compare mix %v lacks a kind", compares)
	}
}
