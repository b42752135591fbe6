package serverview_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/web"
	"github.com/lockstepdb/lockstep/web/serverview"
)

// startMember starts a one-member cluster with an admin listener and
// returns it with its admin base URL; the member stops with the test.
func startMember(t *testing.T) (*server.Server, string) {
	t.Helper()
	url := func() string {
		port, err := freeport.Port()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	peer := url()
	member, err := server.Start(server.Config{
		Name: "solo", DataDirectory: filepath.Join(t.TempDir(), "solo"),
		ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{peer},
		ListenMetricsURLs: []string{url()},
		InitialCluster:    map[string][]string{"solo": {peer}},
		HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, WALSegmentBytes: 1 << 20,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, member) })
	return member, "http://" + member.AdminAddresses()[0]
}

func stop(t *testing.T, member *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := member.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// firstEvent reads the first event of the dashboard's stream.
func firstEvent(t *testing.T, base string) (controls bool, members []web.MemberState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, base+web.Prefix+"events", nil)
	if err != nil {
		t.Fatal(err)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	line, err := bufio.NewReader(response.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("read the first event: %v", err)
	}
	var event struct {
		Controls bool              `json:"controls"`
		Members  []web.MemberState `json:"members"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &event); err != nil {
		t.Fatalf("decode event %q: %v", line, err)
	}
	return event.Controls, event.Members
}

// Mount serves the member's own read-only dashboard on its admin listener,
// showing what State reads of it.
func TestMountServesTheMembersDashboard(t *testing.T) {
	member, base := startMember(t)
	serverview.Mount(member)

	response, err := http.Get(base + web.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(response.Body)
	response.Body.Close()
	if response.StatusCode != http.StatusOK || !strings.Contains(string(page), "lockstep dashboard") {
		t.Fatalf("GET %s: %d, page without its title", web.Prefix, response.StatusCode)
	}

	id := web.FormatID(member.ID())
	deadline := time.Now().Add(20 * time.Second)
	for {
		controls, members := firstEvent(t, base)
		if controls || len(members) != 1 {
			t.Fatalf("event with controls %v and %d members, want a read-only view of one", controls, len(members))
		}
		state := members[0]
		if state.Name != "solo" || state.ID != id || !state.Up {
			t.Fatalf("the member shows as %+v, want solo (%s), up", state, id)
		}
		// A new leader commits its first entry a moment after it wins,
		// then the member's published name (the page names IDs with it).
		if state.Role == "leader" && state.Applied > 0 && state.Names[id] == "solo" {
			if state.Leader != id || state.Vote != id || state.Term == 0 || state.Commit < state.Applied || state.LastIndex < state.Commit || state.LogWrites == 0 {
				t.Fatalf("the leader shows as %+v", state)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader with an applied entry and its name shown within 20 s: %+v", state)
		}
		time.Sleep(20 * time.Millisecond) // polling a real member, bounded by the deadline
	}

	response, err = http.Post(base+web.Prefix+"control/stop/solo", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode < 400 {
		t.Fatalf("a member's own dashboard accepted a control: %d", response.StatusCode)
	}
}

// State reports a stopped member as down, with the reason, under its name
// and ID.
func TestStateOfAStoppedMember(t *testing.T) {
	member, _ := startMember(t)
	stop(t, member)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	state := serverview.State(ctx, member)
	if state.Up || state.Error == "" || state.Name != "solo" || state.ID != web.FormatID(member.ID()) || state.Role != "" {
		t.Fatalf("a stopped member shows as %+v", state)
	}
}
