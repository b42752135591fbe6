package main

import (
	"context"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/internal/testpki"
	"github.com/lockstepdb/lockstep/server"
)

// TestStatusTellsFailuresApart runs lockstep status against a plaintext
// member, a TLS member (with and without its CA, and with the wrong
// scheme), an address where nothing listens and one that never answers:
// every row is aligned, named where the member is known, and says which
// failure it is, the refused one at once.
func TestStatusTellsFailuresApart(t *testing.T) {
	work := t.TempDir()
	plain := startMember(t, "plain", filepath.Join(work, "plain"), peerURL(t), "status-plain")
	defer plain.Stop(context.Background())

	authority := testpki.NewAuthority(t, "status-test-ca")
	caFile := filepath.Join(work, "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: authority.Certificate.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	secureConfig := authority.MutualTLS(t, "secure")
	secureConfig.ClientAuth, secureConfig.ClientCAs = 0, nil // server-side TLS only
	securePeer := peerURL(t)
	secure, err := server.Start(server.Config{
		Name: "secure", DataDirectory: filepath.Join(work, "secure"), ListenClientURLs: []string{"https://127.0.0.1:0"},
		ListenPeerURLs: []string{securePeer}, InitialCluster: map[string][]string{"secure": {securePeer}}, InitialClusterToken: "status-secure",
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, ClientTLS: secureConfig,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Stop(context.Background())
	refused, err := freeport.Address() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	plainAddress, secureAddress := plain.ClientAddresses()[0], secure.ClientAddresses()[0]
	waitForLeader(t, plainAddress)
	// Refused at once, not at the timeout.
	started := time.Now()
	if out, err := runCommand(t, "status", "--timeout", "10s", "--endpoints", refused); err == nil || !strings.Contains(out, "connection refused") || time.Since(started) > 5*time.Second {
		t.Fatalf("status of a refused endpoint took %v (%v):\n%s", time.Since(started), err, out)
	}
	// The timeout is generous for TLS handshakes on a loaded machine
	// running the race detector; the silent endpoint takes all of it.
	started = time.Now()
	out, err := runCommand(t, "status", "--timeout", "3s", "--endpoints", strings.Join([]string{
		refused, plainAddress, "http://" + plainAddress, "https://" + secureAddress, "http://" + secureAddress, silent.Addr().String(),
	}, ","))
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	t.Logf("lockstep status:\n%s", out)
	if elapsed := time.Since(started); elapsed > 8*time.Second {
		t.Fatalf("status took %v with a 3s timeout: the endpoints are not asked side by side", elapsed)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("want a header and 6 rows:\n%s", out)
	}
	rows := map[string]string{}
	nameColumn := strings.Index(lines[0], "NAME")
	errorColumn := strings.Index(lines[0], "ERROR")
	for _, line := range lines[1:] {
		if len(line) <= errorColumn || line[nameColumn-1] != ' ' || line[nameColumn] == ' ' || line[errorColumn-1] != ' ' || line[errorColumn] == ' ' {
			t.Fatalf("row not aligned with the header:\n%s", out)
		}
		rows[strings.Fields(line)[0]] = line
	}
	expect := func(endpoint string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !strings.Contains(rows[endpoint], want) {
				t.Errorf("row of %s lacks %q:\n%s", endpoint, want, out)
			}
		}
	}
	expect(refused, "unreachable", "connection refused")
	expect(plainAddress, " plain ", "leader")
	expect("http://"+plainAddress, " plain ", "leader")
	expect("https://"+secureAddress, "unreachable", "TLS failure", "unknown authority", "--cacert")
	expect("http://"+secureAddress, "unreachable", "serves TLS")
	expect(silent.Addr().String(), "unreachable", "timed out after 3s")

	// With the CA, the TLS member answers, by host:port too.
	out, err = runCommand(t, "status", "--cacert", caFile, "--endpoints", "https://"+secureAddress+","+secureAddress)
	if err != nil || strings.Count(out, " secure ") != 2 || strings.Contains(out, "unreachable") {
		t.Fatalf("status with --cacert: %v\n%s", err, out)
	}
	for _, bad := range []string{"ftp://127.0.0.1:1", "http://127.0.0.1", "unix://"} {
		if out, err := runCommand(t, "status", "--endpoints", bad); err == nil || exitCode(err) != 2 {
			t.Errorf("status --endpoints %s: %v (status %d), want a usage error\n%s", bad, err, exitCode(err), out)
		}
	}
}

// waitForLeader polls the member at address until it knows a leader and
// its name is published (a member publishes it through the log once a
// leader is elected), so that its status row names it.
func waitForLeader(t *testing.T, address string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := runCommand(t, "status", "--timeout", "1s", "--endpoints", address)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) == 2 {
			// The role column is padded by at least two spaces, so "no
			// leader" does not pass for "leader"; the name is the
			// second column, "-" until published.
			columns := strings.Fields(lines[1])
			if (strings.Contains(lines[1], "  leader ") || strings.Contains(lines[1], "  follower ")) && len(columns) > 1 && columns[1] != "-" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader within 10s:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStatusNamesMembersWithoutALeader: of a two-member cluster with one
// member stopped, the survivor has no leader, yet both rows are named: the
// survivor's from its own (serializable) member list, the stopped one's
// from the survivor's list, by its client URL.
func TestStatusNamesMembersWithoutALeader(t *testing.T) {
	work := t.TempDir()
	peers := map[string][]string{"one": {peerURL(t)}, "two": {peerURL(t)}}
	clients := map[string]string{"one": peerURL(t), "two": peerURL(t)}
	type started struct {
		name   string
		member *server.Server
		err    error
	}
	results := make(chan started, 2)
	for _, name := range []string{"one", "two"} {
		go func() {
			member, err := server.Start(server.Config{
				Name: name, DataDirectory: filepath.Join(work, name), ListenClientURLs: []string{clients[name]},
				ListenPeerURLs: peers[name], InitialCluster: peers, InitialClusterToken: "status-names",
				HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
			})
			results <- started{name, member, err}
		}()
	}
	members := map[string]*server.Server{}
	for range 2 {
		result := <-results
		if result.err != nil {
			t.Fatal(result.err)
		}
		members[result.name] = result.member
		t.Cleanup(func() { result.member.Stop(context.Background()) })
	}
	one, two := strings.TrimPrefix(clients["one"], "http://"), strings.TrimPrefix(clients["two"], "http://")
	waitForLeader(t, one)
	// Both members' attributes (names, client URLs) are published once a
	// leader exists; wait until the survivor lists them.
	deadline := time.Now().Add(10 * time.Second)
	for out, _ := runCommand(t, "status", "--endpoints", one+","+two); strings.Count(out, " one ")+strings.Count(out, " two ") != 2; out, _ = runCommand(t, "status", "--endpoints", one+","+two) {
		if time.Now().After(deadline) {
			t.Fatalf("members not named within 10s:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := members["two"].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, "status", "--timeout", "5s", "--endpoints", two+","+one)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " two ") || !strings.Contains(lines[1], "connection refused") || !strings.Contains(lines[2], " one ") {
		t.Fatalf("want the stopped member named and refused, the survivor named:\n%s", out)
	}
}

// TestStatusShowsSizeInUseAndErrors raises the NOSPACE alarm on a member
// (a one-byte quota): lockstep status prints the store's size in use and
// the alarm under ERROR.
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
	if len(lines) != 2 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "DB SIZE  IN USE  ERROR") || !strings.Contains(lines[1], "alarm:NOSPACE") {
		t.Fatalf("status output:\n%s\nwant a header ending DB SIZE, IN USE, ERROR and the alarm in the row", out)
	}
}

// TestStatusAsAnAuthUser enables etcd's auth on a member: lockstep status
// is refused without --user (as etcd refuses anonymous calls), answers
// with --user NAME:PASSWORD or --user NAME --password PASSWORD, and says
// so when the password is wrong.
func TestStatusAsAnAuthUser(t *testing.T) {
	member := startMember(t, "guarded", filepath.Join(t.TempDir(), "guarded"), peerURL(t), "status-auth")
	defer member.Stop(context.Background())
	endpoint := member.ClientAddresses()[0]
	waitForLeader(t, endpoint)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.UserAdd(ctx, "root", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := runCommand(t, "status", "--timeout", "20s", "--endpoints", endpoint); err == nil || !strings.Contains(out, "user name is empty") {
		t.Errorf("status without --user on a member with auth: %v\n%s", err, out)
	}
	for _, arguments := range [][]string{{"--user", "root:secret"}, {"--user", "root", "--password", "secret"}} {
		out, err := runCommand(t, append([]string{"status", "--timeout", "20s", "--endpoints", endpoint}, arguments...)...)
		if err != nil || !strings.Contains(out, "  leader ") || !strings.Contains(out, " guarded ") {
			t.Errorf("status %v: %v\n%s", arguments, err, out)
		}
	}
	if out, err := runCommand(t, "status", "--timeout", "20s", "--endpoints", endpoint, "--user", "root:wrong"); err == nil || !strings.Contains(out, "authentication failed") {
		t.Errorf("status with a wrong password: %v\n%s", err, out)
	}
	if out, err := runCommand(t, "status", "--endpoints", endpoint, "--user", "root:secret", "--password", "secret"); err == nil || !strings.Contains(out+err.Error(), "--password is given too") {
		t.Errorf("a password given twice: %v\n%s", err, out)
	}
}
