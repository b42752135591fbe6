package server

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// TestLogsPrintIDsInHex: member IDs read in the logs as etcdctl prints
// them (hex), never in decimal, in every layer's lines (server, node,
// transport), in text and JSON logs alike.
func TestLogsPrintIDsInHex(t *testing.T) {
	var text, json syncbuffer.Buffer
	cluster := startCluster(t, 3, func(config *Config) {
		handlerOptions := &slog.HandlerOptions{Level: slog.LevelDebug}
		if config.Name == "m1" {
			config.Logger = slog.New(slog.NewJSONHandler(&json, handlerOptions))
		} else {
			config.Logger = slog.New(slog.NewTextHandler(&text, handlerOptions))
		}
	})
	cluster.leader()
	ids := []uint64{}
	for _, member := range cluster.members {
		ids = append(ids, member.ID())
	}
	cluster.stopAll()
	for _, logs := range []string{text.String(), json.String()} {
		if !strings.Contains(logs, "peer set") || !strings.Contains(logs, "leader changed") {
			t.Fatalf("the logs lack the lines this test reads:\n%s", logs)
		}
	}
	for _, id := range ids {
		for _, logs := range []string{text.String(), json.String()} {
			if decimal := fmt.Sprint(id); strings.Contains(logs, decimal) {
				line := logs[strings.LastIndex(logs[:strings.Index(logs, decimal)], "\n")+1:]
				t.Errorf("ID %x appears in decimal: %s", id, line[:strings.IndexByte(line, '\n')])
			}
			if !strings.Contains(logs, fmt.Sprintf("%x", id)) {
				t.Errorf("ID %x never appears in hex", id)
			}
		}
	}
}
