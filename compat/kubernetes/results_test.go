package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/compat/kubernetes/cluster"
)

// sampleEvents is test2json output: a passing test, a test with a failed
// subtest, and a test the run never finished.
const sampleEvents = `{"Action":"start","Package":"suite"}
{"Action":"run","Test":"TestCreate"}
{"Action":"output","Test":"TestCreate","Output":"=== RUN   TestCreate\n"}
{"Action":"pass","Test":"TestCreate"}
{"Action":"run","Test":"TestList"}
{"Action":"run","Test":"TestList/RangeStream=true"}
{"Action":"output","Test":"TestList/RangeStream=true","Output":"        feature_gate.go:170: Updated featureGates\n"}
{"Action":"output","Test":"TestList/RangeStream=true","Output":"        rangestream_test.go:54: fell back\n"}
{"Action":"fail","Test":"TestList/RangeStream=true"}
{"Action":"fail","Test":"TestList"}
{"Action":"run","Test":"TestWatch"}
{"Action":"output","Output":"panic: test timed out after 1m0s\n"}
{"Action":"fail","Package":"suite"}
`

func TestReadResults(t *testing.T) {
	results, err := readResults(strings.NewReader(sampleEvents), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outcome{"TestCreate": passed, "TestList": failed, "TestList/RangeStream=true": failed, "TestWatch": noResult}
	for name, outcome := range want {
		if results.outcomes[name] != outcome {
			t.Errorf("%s: %q, want %q", name, results.outcomes[name], outcome)
		}
	}
	if got := strings.Join(results.order, ","); got != "TestCreate,TestList,TestList/RangeStream=true,TestWatch" {
		t.Errorf("order %s", got)
	}
	if got := results.why("TestList/RangeStream=true", 3); len(got) != 1 || got[0] != "rangestream_test.go:54: fell back" {
		t.Errorf("why = %q, want the failure without the feature gate line", got)
	}
	if got := results.count(passed, true); got != 1 {
		t.Errorf("%d top-level passes, want 1", got)
	}
	if got := results.total(false); got != 4 {
		t.Errorf("%d cases, want 4", got)
	}
	if got := lastLines(results.packageOutput, 1); got != "panic: test timed out after 1m0s" {
		t.Errorf("package output ends %q", got)
	}
}

func TestWriteTable(t *testing.T) {
	results, err := readResults(strings.NewReader(sampleEvents), nil)
	if err != nil {
		t.Fatal(err)
	}
	runs := []*systemRun{
		{system: cluster.System{Name: "etcd"}, results: results},
		{system: cluster.System{Name: "lockstep-3"}, err: errTest},
	}
	var table strings.Builder
	writeTable(&table, runs, false)
	for _, row := range []string{
		"| case | etcd 3.7.3 | lockstep ×3 |",
		"| TestCreate | pass | — |",
		"|   TestList/RangeStream=true | FAIL | — |",
		"| TestWatch | no result | — |",
		"| **passed: top-level tests** | 1/3 | not run |",
	} {
		if !strings.Contains(table.String(), row+"\n") {
			t.Errorf("the table lacks the row %q:\n%s", row, table.String())
		}
	}
	var failures strings.Builder
	writeFailures(&failures, runs)
	if strings.Contains(failures.String(), "etcd TestList: FAIL") {
		t.Errorf("a parent is listed beside its failed subtest:\n%s", failures.String())
	}
	for _, line := range []string{"etcd TestList/RangeStream=true: FAIL", "etcd TestWatch: no result", "lockstep-3: " + errTest.Error()} {
		if !strings.Contains(failures.String(), line) {
			t.Errorf("the failures lack %q:\n%s", line, failures.String())
		}
	}
}

var errTest = errors.New("the cluster did not start")
