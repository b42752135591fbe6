package server

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// TestStartFailuresLeadWithTheirCause: a client port in use and a data
// directory another member holds are each reported first as what they
// are, nothing is logged as a failure before that, and a first start that
// fails leaves no data directory behind.
func TestStartFailuresLeadWithTheirCause(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	var logs syncbuffer.Buffer
	config := cluster.configs[0]
	config.Name, config.DataDirectory = "other", filepath.Join(t.TempDir(), "other")
	peer := "http://" + mustFreeAddress(t)
	config.ListenPeerURLs, config.InitialCluster = []string{peer}, map[string][]string{"other": {peer}}
	config.ListenClientURLs = []string{"http://" + busy.Addr().String()}
	config.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err = Start(config)
	if err == nil || !strings.HasPrefix(err.Error(), "address already in use: --listen-client-urls") {
		t.Fatalf("start on a busy client port: %v", err)
	}
	if _, statErr := os.Stat(config.DataDirectory); !os.IsNotExist(statErr) {
		t.Fatalf("the failed first start left %s behind (%v)", config.DataDirectory, statErr)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a failure was logged before the cause was returned:\n%s", logs.String())
	}

	// The running member's directory, with ports of its own: refused as
	// in use, and left as it was.
	config = cluster.configs[0]
	config.ListenPeerURLs = []string{"http://" + mustFreeAddress(t)}
	config.AdvertisePeerURLs = cluster.configs[0].ListenPeerURLs
	config.ListenClientURLs = []string{"http://127.0.0.1:0"}
	_, err = Start(config)
	if err == nil || !strings.HasPrefix(err.Error(), "data directory in use: ") {
		t.Fatalf("start on a running member's data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(config.DataDirectory, identityFile)); err != nil {
		t.Fatalf("the running member's identity is gone: %v", err)
	}
}

func mustFreeAddress(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}
