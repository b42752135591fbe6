package server

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// TestClusterMismatchNamesTheTokens: two members started with different
// --initial-cluster-token values are in different clusters; each side's
// log says so and names both tokens, so the operator knows what to fix.
func TestClusterMismatchNamesTheTokens(t *testing.T) {
	var logs syncbuffer.Buffer
	startCluster(t, 2, func(config *Config) {
		if config.Name == "m2" {
			config.InitialClusterToken = "another-token"
		}
		config.Logger = slog.New(slog.NewTextHandler(&logs, nil)).With("test-member", config.Name)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		text := logs.String()
		refused := lineWith(text, "peer belongs to another cluster")
		if strings.Contains(refused, `\"test\"`) && strings.Contains(refused, `\"another-token\"`) && strings.Contains(refused, "--initial-cluster-token") {
			t.Logf("the refused member logs: %s", refused)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line names both tokens within 10s:\n%s", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lineWith returns the first line of text that contains substring.
func lineWith(text, substring string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substring) {
			return line
		}
	}
	return ""
}
