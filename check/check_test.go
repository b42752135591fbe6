package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// TestEtcdSurvivesKillsAndPauses runs the whole checker against a real
// three-member etcd v3.7.3 for 20 seconds of kill -9 and SIGSTOP faults. etcd
// is linearizable, so the run must pass; a failure here is a checker bug
// (or a real etcd bug worth writing down).
func TestEtcdSurvivesKillsAndPauses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real etcd cluster for 20 seconds")
	}
	var progress syncbuffer.Buffer
	output := filepath.Join(t.TempDir(), "report")
	result, err := Run(context.Background(), Config{
		System:          cluster.System{Kind: cluster.Etcd},
		Members:         3,
		Duration:        20 * time.Second,
		Faults:          []fault.Kind{fault.Kill, fault.Pause},
		Seed:            1,
		OutputDirectory: output,
		Progress:        &progress,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Log(result.Summary() + "\n" + progress.String())
	if !result.Passed() {
		t.Fatalf("%s\nproblems: %v\n%s", result.Summary(), result.Problems, progress.String())
	}
	if result.Faults < 2 || result.Operations < 200 {
		t.Fatalf("%s: too few faults or operations to mean anything\n%s", result.Summary(), progress.String())
	}
	if _, err := os.Stat(output); !os.IsNotExist(err) {
		t.Fatalf("a passing run wrote a report into %s", output)
	}
	if !strings.HasPrefix(result.Summary(), "check: ") || !strings.HasSuffix(result.Summary(), " faults (kill "+fmt.Sprint(result.FaultsByKind[0].Count)+", pause "+fmt.Sprint(result.FaultsByKind[1].Count)+"), linearizable") {
		t.Fatalf("summary %q is not of the form check: <ops> ops, <faults> faults (kill <n>, pause <n>), linearizable", result.Summary())
	}
}
