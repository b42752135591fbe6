package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/server"
)

// startMember starts a one-member lockstep server in directory.
func startMember(t *testing.T, name, directory, peerURL, token string) *server.Server {
	t.Helper()
	member, err := server.Start(server.Config{
		Name: name, DataDirectory: directory, ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs: []string{peerURL}, InitialCluster: map[string][]string{name: {peerURL}}, InitialClusterToken: token,
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return member
}

func peerURL(t *testing.T) string {
	t.Helper()
	address, err := freeport.Address()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + address
}

// TestSnapshotSaveStatusRestore backs up a running member and a stopped
// member's directory, checks both backups, restores one into a new
// one-member cluster and reads the keys back from it.
func TestSnapshotSaveStatusRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	work := t.TempDir()
	member := startMember(t, "m1", filepath.Join(work, "m1"), peerURL(t), "original")
	endpoint := member.ClientAddresses()[0]
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := range 30 {
		if _, err := client.Put(ctx, fmt.Sprintf("key-%02d", i%10), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	online := filepath.Join(work, "online.db")
	out, err := runCommand(t, "snapshot", "save", online, "--endpoints", endpoint)
	if err != nil || !strings.Contains(out, "revision 31, 10 keys") {
		t.Fatalf("snapshot save --endpoints: %v\n%s", err, out)
	}
	if out, err := runCommand(t, "snapshot", "save", filepath.Join(work, "locked.db"), "--data-dir", filepath.Join(work, "m1")); err == nil {
		t.Fatalf("snapshot save --data-dir of a running member succeeded:\n%s", out)
	}
	client.Close()
	if err := member.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	offline := filepath.Join(work, "offline.db")
	if out, err := runCommand(t, "snapshot", "save", offline, "--data-dir", filepath.Join(work, "m1")); err != nil || !strings.Contains(out, "revision 31, 10 keys") {
		t.Fatalf("snapshot save --data-dir: %v\n%s", err, out)
	}
	out, err = runCommand(t, "snapshot", "status", offline)
	if err != nil || !strings.Contains(out, "revision 31") || !strings.Contains(out, "10 keys, 30 stored versions") {
		t.Fatalf("snapshot status: %v\n%s", err, out)
	}
	for _, bad := range []struct {
		arguments []string
		want      string
	}{
		{[]string{"snapshot", "save", offline}, "exactly one of"},
		{[]string{"snapshot", "save", offline, "--endpoints", "127.0.0.1:1,127.0.0.1:2"}, "must name one member"},
		{[]string{"snapshot", "save", filepath.Join(work, "x.db"), "--endpoints", "127.0.0.1:1", "--dial-timeout", "200ms"}, "did not answer"},
		{[]string{"snapshot", "save", filepath.Join(work, "x.db"), "--data-dir", work}, "not a member's data directory"},
		{[]string{"snapshot", "status", filepath.Join(work, "m1", "member.json")}, "corrupt backup"},
	} {
		if out, err := runCommand(t, bad.arguments...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want an error saying %q\n%s", bad.arguments, err, bad.want, out)
		}
	}

	url := peerURL(t)
	restoredDirectory := filepath.Join(work, "r1")
	out, err = runCommand(t, "snapshot", "restore", online, "--name", "r1", "--data-dir", restoredDirectory,
		"--initial-advertise-peer-urls", url, "--initial-cluster", "r1="+url, "--initial-cluster-token", "restored")
	if err != nil {
		t.Fatalf("snapshot restore: %v\n%s", err, out)
	}
	if out, err := runCommand(t, "snapshot", "restore", online, "--name", "r1", "--data-dir", restoredDirectory,
		"--initial-advertise-peer-urls", url, "--initial-cluster", "r1="+url, "--initial-cluster-token", "again"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second restore into the same directory: %v\n%s", err, out)
	}
	if out, err := runCommand(t, "snapshot", "restore", online, "--name", "r2", "--data-dir", filepath.Join(work, "r2"),
		"--initial-advertise-peer-urls", url, "--initial-cluster", "r2="+url); err == nil || !strings.Contains(err.Error(), "--initial-cluster-token is required") {
		t.Fatalf("a restore without a token: %v\n%s", err, out)
	}
	restored := startMember(t, "r1", restoredDirectory, url, "restored")
	defer restored.Stop(context.Background())
	client, err = clientv3.New(clientv3.Config{Endpoints: []string{restored.ClientAddresses()[0]}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	got, err := client.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 10 || got.Header.Revision != 31 || string(got.Kvs[9].Value) != "29" {
		t.Fatalf("restored member: %d keys at revision %d (%v), want 10 at 31", got.Count, got.Header.Revision, got.Kvs)
	}
}

// TestSnapshotRestoreTokenIsRequired: the help shows no default token
// (there is none), the token may come from the environment like every
// flag, and none at all is refused before anything is read.
func TestSnapshotRestoreTokenIsRequired(t *testing.T) {
	help, err := runCommand(t, "snapshot", "restore", "--help")
	if err != nil {
		t.Fatal(err)
	}
	tokenLine := lineContaining(help, "--initial-cluster-token string")
	if strings.Contains(tokenLine, "default") || !strings.Contains(tokenLine, "required") {
		t.Fatalf("restore's help shows the token as %q, want it required and without a default", tokenLine)
	}
	work := t.TempDir()
	missing := filepath.Join(work, "missing.db")
	arguments := []string{"snapshot", "restore", missing, "--name", "r1", "--data-dir", filepath.Join(work, "r1"),
		"--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "r1=http://127.0.0.1:2380"}
	if _, err := runCommand(t, arguments...); err == nil || !strings.Contains(err.Error(), "--initial-cluster-token is required") {
		t.Fatalf("restore without a token: %v", err)
	}
	t.Setenv("ETCD_INITIAL_CLUSTER_TOKEN", "from-the-environment")
	if _, err := runCommand(t, arguments...); err == nil || strings.Contains(err.Error(), "token") || !strings.Contains(err.Error(), "missing.db") {
		t.Fatalf("restore with ETCD_INITIAL_CLUSTER_TOKEN should get as far as reading the backup: %v", err)
	}
}

func lineContaining(text, substring string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substring) {
			return line
		}
	}
	return ""
}
