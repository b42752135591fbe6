package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/server"
)

// lockstep serve shows the member's dashboard at /dashboard/ on its
// --listen-metrics-urls, next to /metrics.
func TestServeShowsTheDashboardOnTheMetricsListener(t *testing.T) {
	ports := make([]int, 2)
	for i := range ports {
		port, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = port
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	admin := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, server.Config{
			Name: "solo", DataDirectory: t.TempDir(),
			ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{peer}, ListenMetricsURLs: []string{admin},
			InitialCluster: map[string][]string{"solo": {peer}}, WALSegmentBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler),
		})
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	// The member binds its listeners, then the dashboard is mounted:
	// poll until the page answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, page := get(t, admin+"/dashboard/")
		if status == http.StatusOK && strings.Contains(page, "lockstep dashboard") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dashboard on the metrics listener within 20 s (last: %d)", status)
		}
		time.Sleep(20 * time.Millisecond) // polling a starting member, bounded by the deadline
	}
	if status, metrics := get(t, admin+"/metrics"); status != http.StatusOK || !strings.Contains(metrics, "lockstep_proposals_total") {
		t.Fatalf("/metrics next to the dashboard answered %d", status)
	}
}

// get fetches url; a refused connection (the member still starting) is
// status 0.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	response, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response.StatusCode, string(body)
}
