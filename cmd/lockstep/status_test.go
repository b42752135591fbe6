package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/server"
)

// TestStatusShowsSizeInUseAndErrors raises the NOSPACE alarm on a member
// (a one-byte quota): lockstep status prints the store's size in use and
// the alarm under ERRORS.
func TestStatusShowsSizeInUseAndErrors(t *testing.T) {
	url := peerURL(t)
	member, err := server.Start(server.Config{
		Name: "m1", DataDirectory: filepath.Join(t.TempDir(), "m1"), ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs: []string{url}, InitialCluster: map[string][]string{"m1": {url}}, InitialClusterToken: "status",
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, QuotaBackendBytes: 1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer member.Stop(context.Background())
	endpoint := member.ClientAddresses()[0]
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.Put(ctx, "k", "v"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("put over a one-byte quota: %v", err)
	}
	out, err := runCommand(t, "status", "--endpoints", endpoint)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "DB SIZE  IN USE  ERRORS") || !strings.Contains(lines[1], "alarm:NOSPACE") {
		t.Fatalf("status output:\n%s\nwant a header ending DB SIZE, IN USE, ERRORS and the alarm in the row", out)
	}
}
