package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getAdmin fetches path from member i's admin listener.
func getAdmin(t *testing.T, cluster *testCluster, i int, path string) (int, string) {
	t.Helper()
	response, err := http.Get("http://" + cluster.members[i].AdminAddresses()[0] + path)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response.StatusCode, string(body)
}

// A handler mounted on AdminHandler after Start is served by the admin
// listener next to the server's own routes: the hook lockstep serve uses
// for the dashboard.
func TestAdminHandlerServesMountedRoutes(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) {
		config.ListenMetricsURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	})
	if code, body := getAdmin(t, cluster, 0, "/extra/page"); code != http.StatusNotFound {
		t.Fatalf("before mounting: /extra/page answered %d %q, want 404", code, body)
	}
	cluster.members[0].AdminHandler().HandleFunc("/extra/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "mounted ", r.URL.Path)
	})
	if code, body := getAdmin(t, cluster, 0, "/extra/page"); code != http.StatusOK || body != "mounted /extra/page" {
		t.Fatalf("mounted route answered %d %q", code, body)
	}
	if code, body := getAdmin(t, cluster, 0, "/livez"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/livez answered %d %q next to the mounted route", code, body)
	}
}

// Activity counts a client write, its proposal and the log writes behind
// it, and only grows.
func TestActivityCountsWrites(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	before := cluster.members[0].Activity()
	client := cluster.client()
	for i := range 3 {
		if _, err := client.Put(testContext(t), fmt.Sprint("key-", i), "value"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Get(testContext(t), "key-0"); err != nil {
		t.Fatal(err)
	}
	after := cluster.members[0].Activity()
	if after.WriteRequests != before.WriteRequests+3 {
		t.Errorf("write requests went from %d to %d after 3 puts and a get, want +3", before.WriteRequests, after.WriteRequests)
	}
	if after.WriteLatencySeconds <= before.WriteLatencySeconds {
		t.Errorf("write latency total did not grow: %v then %v", before.WriteLatencySeconds, after.WriteLatencySeconds)
	}
	if after.Proposals < before.Proposals+3 {
		t.Errorf("proposals went from %d to %d, want at least +3", before.Proposals, after.Proposals)
	}
	if after.LogWrites <= before.LogWrites || after.LogWriteSeconds <= before.LogWriteSeconds {
		t.Errorf("log writes went from %d (%vs) to %d (%vs), want more", before.LogWrites, before.LogWriteSeconds, after.LogWrites, after.LogWriteSeconds)
	}
}

// WatchChanges signals a member's leader change, and its stop function
// may be called more than once.
func TestWatchChangesSignalsALeaderChange(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	leader := cluster.leader()
	watcher := (leader + 1) % 3
	changes, stop := cluster.members[watcher].WatchChanges()
	defer stop()
	cluster.kill(leader)
	select {
	case <-changes:
	case <-time.After(30 * time.Second):
		t.Fatal("no change signalled within 30 s of the leader's crash")
	}
	stop()
	stop()
}
