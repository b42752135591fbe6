package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
)

// etcdctlVariable matches the lines of `etcdctl member add` meant for the
// new member's environment: ETCD_NAME="d".
var etcdctlVariable = regexp.MustCompile(`(?m)^(ETCD_[A-Z_]+)=(".*")$`)

// TestAddMemberWithTheEnvironmentEtcdctlPrints follows docs/operations.md
// literally: `etcdctl member add`, then `lockstep serve` started with the
// environment etcdctl printed (plus where to listen and keep its data, as
// ETCD_ variables too). The new member must join the existing cluster, not
// found a cluster of its own as `default`. Removed again, it exits with
// status 1.
func TestAddMemberWithTheEnvironmentEtcdctlPrints(t *testing.T) {
	etcdctlPath, err := etcdbin.Path("etcdctl")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	work := t.TempDir()
	existing := startMember(t, "a", filepath.Join(work, "a"), peerURL(t), "add-member-test")
	defer existing.Stop(context.Background())
	client, err := clientv3.New(clientv3.Config{Endpoints: existing.ClientAddresses(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Put(ctx, "before", "the new member"); err != nil {
		t.Fatal(err)
	}

	newPeerURL, newClientURL := peerURL(t), peerURL(t)
	add := exec.CommandContext(ctx, etcdctlPath, "--endpoints="+existing.ClientAddresses()[0], "member", "add", "d", "--peer-urls="+newPeerURL)
	output, err := add.CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl member add: %v\n%s", err, output)
	}
	printed := etcdctlVariable.FindAllStringSubmatch(string(output), -1)
	if len(printed) < 3 {
		t.Fatalf("etcdctl member add printed no environment:\n%s", output)
	}
	for _, variable := range printed {
		value, err := strconv.Unquote(variable[2]) // as the shell would
		if err != nil {
			t.Fatalf("%s: %v", variable[0], err)
		}
		t.Setenv(variable[1], value)
	}
	t.Setenv("ETCD_DATA_DIR", filepath.Join(work, "d"))
	t.Setenv("ETCD_LISTEN_PEER_URLS", newPeerURL)
	t.Setenv("ETCD_LISTEN_CLIENT_URLS", newClientURL)
	t.Setenv("ETCD_HEARTBEAT_INTERVAL", "10")
	t.Setenv("ETCD_ELECTION_TIMEOUT", "100")

	serveCtx, stopServe := context.WithCancel(ctx)
	var logs syncbuffer.Buffer
	served := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetOut(&logs)
		root.SetErr(&logs)
		root.SetArgs([]string{"serve"})
		served <- root.ExecuteContext(serveCtx)
	}()
	serveDone := false
	defer func() {
		stopServe()
		if !serveDone {
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}()

	// Joined: the new member answers for the existing cluster, knows its
	// leader, and has the write made before it was added.
	newClient, err := clientv3.New(clientv3.Config{Endpoints: []string{strings.TrimPrefix(newClientURL, "http://")}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer newClient.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		status, statusErr := newClient.Status(attempt, strings.TrimPrefix(newClientURL, "http://"))
		var got *clientv3.GetResponse
		if statusErr == nil && status.Leader == existing.ID() {
			got, statusErr = newClient.Get(attempt, "before", clientv3.WithSerializable())
		}
		cancelAttempt()
		if statusErr == nil && got != nil && len(got.Kvs) == 1 {
			if status.Header.ClusterId != existing.ClusterID() {
				t.Fatalf("the new member is in cluster %x, want %x\n%s", status.Header.ClusterId, existing.ClusterID(), logs.Tail(30))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new member did not join within 30s (last: %v, status %+v)\n%s", statusErr, status, logs.Tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The new member publishes its name once it runs: poll for it.
	var members *clientv3.MemberListResponse
	for {
		if members, err = client.MemberList(ctx); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, member := range members.Members {
			names = append(names, member.Name)
		}
		if len(members.Members) == 2 && slices.Contains(names, "d") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after the join: %q", names)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Removed, the member says so and lockstep serve exits with status 1,
	// as etcd does.
	var newID uint64
	for _, member := range members.Members {
		if member.Name == "d" {
			newID = member.ID
		}
	}
	if _, err := client.MemberRemove(ctx, newID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		serveDone = true
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "permanently removed from the cluster") {
			t.Fatalf("serve of a removed member returned %v (exit status %d), want status 1 saying it was removed", err, exitCode(err))
		}
		if !strings.Contains(logs.String(), "the member has been permanently removed from the cluster") {
			t.Fatalf("the removed member did not log its removal:\n%s", logs.Tail(20))
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve still runs 20s after its member was removed\n%s", logs.Tail(20))
	}
}
