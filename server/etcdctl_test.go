package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
	"github.com/lockstepdb/lockstep/kv"
)

// etcdctl runs the real etcdctl v3.7.3 against the cluster and returns its
// output; the test fails if it exits non-zero. A command refused with
// "leader changed" is run again, twice at most: that answer promises the
// request was not applied (a proposal the leader dropped, or a forward
// that reached a member no longer leading), and the test clusters' 200 ms
// election timeout lets a member under -race on a busy machine start an
// election right after the cluster agreed on a leader.
func etcdctl(t *testing.T, cluster *testCluster, stdin string, args ...string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		output, err := etcdctlCommand(t, cluster, stdin, args...).CombinedOutput()
		t.Logf("etcdctl %s: %v", strings.Join(args, " "), time.Since(start))
		if err != nil && attempt < 3 && strings.Contains(string(output), "etcdserver: leader changed") {
			t.Logf("etcdctl %s: leader changed, running it again", strings.Join(args, " "))
			continue
		}
		if err != nil {
			t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, output)
		}
		return string(output)
	}
}

func etcdctlCommand(t *testing.T, cluster *testCluster, stdin string, args ...string) *exec.Cmd {
	t.Helper()
	path, err := etcdbin.Path("etcdctl")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	command := exec.CommandContext(ctx, path, append([]string{"--endpoints=" + strings.Join(cluster.endpoints(), ","), "--command-timeout=10s"}, args...)...)
	command.Stdin = strings.NewReader(stdin)
	// Once killed at the deadline, Wait returns even if a pipe stays open.
	command.WaitDelay = 5 * time.Second
	return command
}

func expectOutput(t *testing.T, output string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(output, want) {
			t.Fatalf("output lacks %q:\n%s", want, output)
		}
	}
}

// TestStockEtcdctl drives a lockstep cluster with the unmodified etcdctl.
func TestStockEtcdctl(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	cluster.leader()

	expectOutput(t, etcdctl(t, cluster, "", "put", "fruit/apple", "red"), "OK")
	etcdctl(t, cluster, "", "put", "fruit/banana", "yellow")
	expectOutput(t, etcdctl(t, cluster, "", "get", "--prefix", "fruit/"), "fruit/apple\nred\nfruit/banana\nyellow")
	expectOutput(t, etcdctl(t, cluster, "", "get", "fruit/apple", "-w", "json"), `"version":1`)
	expectOutput(t, etcdctl(t, cluster, "", "del", "fruit/banana"), "1")
	txn := "value(\"fruit/apple\") = \"red\"\n\nput fruit/apple green\n\nput fruit/apple blue\n\n"
	expectOutput(t, etcdctl(t, cluster, txn, "txn"), "SUCCESS", "OK")
	expectOutput(t, etcdctl(t, cluster, "", "get", "fruit/apple", "--print-value-only"), "green")

	// watch: start it, write, read the event it prints.
	watch := etcdctlCommand(t, cluster, "", "watch", "fruit/", "--prefix")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	// The watch may start after a put: put until it prints the value,
	// within a bounded time.
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		etcdctl(t, cluster, "", "put", "fruit/cherry", "dark")
		retry := time.After(time.Second)
		for waiting := true; waiting && !seen; {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("etcdctl watch ended without printing the event")
				}
				seen = line == "dark"
			case <-retry:
				waiting = false
			case <-deadline:
				t.Fatal("etcdctl watch printed no event within 20 s")
			}
		}
	}
	watch.Process.Kill()
	watch.Wait()

	grant := etcdctl(t, cluster, "", "lease", "grant", "60")
	var lease string
	fmt.Sscanf(grant, "lease %s granted", &lease)
	if lease == "" {
		t.Fatalf("lease grant printed %q", grant)
	}
	etcdctl(t, cluster, "", "put", "leased", "v", "--lease="+lease)
	expectOutput(t, etcdctl(t, cluster, "", "lease", "timetolive", lease, "--keys"), "granted with TTL(60s)", "leased")
	expectOutput(t, etcdctl(t, cluster, "", "lease", "list"), lease)
	expectOutput(t, etcdctl(t, cluster, "", "lease", "keep-alive", "--once", lease), "keepalived with TTL")
	expectOutput(t, etcdctl(t, cluster, "", "lease", "revoke", lease), "revoked")

	expectOutput(t, etcdctl(t, cluster, "", "member", "list"), "m1", "m2", "m3", "started")
	status := etcdctl(t, cluster, "", "endpoint", "status", "-w", "table")
	expectOutput(t, status, "true", "3.7.3")
	expectOutput(t, etcdctl(t, cluster, "", "endpoint", "health"), "is healthy")

	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	added := etcdctl(t, cluster, "", "member", "add", "m4", "--learner", "--peer-urls="+peer)
	expectOutput(t, added, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"")
	var id string
	fmt.Sscanf(added, "Member %s added", &id)
	expectOutput(t, etcdctl(t, cluster, "", "member", "list"), id, "unstarted")
	expectOutput(t, etcdctl(t, cluster, "", "member", "remove", id), "removed")

	expectOutput(t, etcdctl(t, cluster, "", "lock", "mylock", "echo", "locked-and-ran"), "locked-and-ran")

	// snapshot save takes one endpoint; the file is a lockstep backup.
	backup := filepath.Join(t.TempDir(), "backup.db")
	save := etcdctlCommand(t, cluster, "", "snapshot", "save", backup)
	save.Args[1] = "--endpoints=" + cluster.endpoint(0)
	output, err := save.CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, output)
	}
	expectOutput(t, string(output), "Snapshot saved at "+backup, "3.7.3")
	file, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	stat, _ := file.Stat()
	image, _, err := kv.OpenBackup(file, stat.Size())
	if err != nil {
		t.Fatalf("etcdctl's saved file is not a backup: %v", err)
	}
	if info, err := kv.InspectImage(image); err != nil || info.Keys == 0 {
		t.Fatalf("etcdctl's saved backup: %+v, %v", info, err)
	}

	// elect: a candidate holds the election while `elect -l` observes it.
	candidate := etcdctlCommand(t, cluster, "", "elect", "myelection", "proposal-one")
	candidateOut, err := candidate.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := candidate.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { candidate.Process.Kill(); candidate.Wait() }()
	first, _ := bufio.NewReader(candidateOut).ReadString('\n')
	if !strings.HasPrefix(first, "myelection/") {
		t.Fatalf("elect printed %q", first)
	}
	observer := etcdctlCommand(t, cluster, "", "elect", "-l", "myelection")
	observerOut, err := observer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := observer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { observer.Process.Kill(); observer.Wait() }()
	observed, _ := io.ReadAll(io.LimitReader(observerOut, int64(len(first)+len("proposal-one\n"))))
	expectOutput(t, string(observed), "proposal-one")
}
