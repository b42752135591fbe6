package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeCluster reports fixed members and records control actions.
type fakeCluster struct {
	members []MemberState
	acted   []string
}

func (f *fakeCluster) Sample(context.Context) []MemberState { return f.members }
func (f *fakeCluster) Watch() (<-chan struct{}, func())     { return make(chan struct{}), func() {} }
func (f *fakeCluster) Act(_ context.Context, action, member string) error {
	if action == "explode" {
		return errors.New("no such action")
	}
	f.acted = append(f.acted, action+" "+member)
	return nil
}

func TestHandlerServesPagesAndAssets(t *testing.T) {
	server := httptest.NewServer(Handler(Options{Cluster: &fakeCluster{}}))
	defer server.Close()
	for path, want := range map[string]string{
		"/dashboard/":                     "lockstep dashboard",
		"/dashboard/playground":           "lockstep playground",
		"/dashboard/assets/dashboard.js":  "EventSource",
		"/dashboard/assets/wasm_exec.js":  "Go",
		"/dashboard/assets/playground.js": "WebAssembly",
	} {
		response, err := http.Get(server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(response.Body)
		response.Body.Close()
		if response.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body without %q", path, response.StatusCode, want)
		}
	}
	// Without a Control there are no buttons to press.
	response, err := http.Post(server.URL+"/dashboard/control/stop/a", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode == http.StatusNoContent {
		t.Errorf("control accepted on a read-only dashboard")
	}
}

func TestStreamSendsSnapshots(t *testing.T) {
	cluster := &fakeCluster{members: []MemberState{{Name: "a", ID: "1", Up: true, Role: "leader", Term: 4}}}
	server := httptest.NewServer(Handler(Options{Cluster: cluster, Control: cluster}))
	defer server.Close()
	response, err := http.Get(server.URL + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	if got := response.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Fatalf("content type %q", got)
	}
	line, err := bufio.NewReader(response.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var got snapshot
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &got); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	if !got.Controls || len(got.Members) != 1 || got.Members[0].Role != "leader" || got.Members[0].Term != 4 {
		t.Fatalf("snapshot %+v", got)
	}
}

func TestControlRunsActions(t *testing.T) {
	cluster := &fakeCluster{}
	server := httptest.NewServer(Handler(Options{Cluster: cluster, Control: cluster}))
	defer server.Close()
	for action, want := range map[string]int{"stop": http.StatusNoContent, "explode": http.StatusConflict} {
		response, err := http.Post(server.URL+"/dashboard/control/"+action+"/b", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != want {
			t.Errorf("%s: status %d, want %d", action, response.StatusCode, want)
		}
	}
	if len(cluster.acted) != 1 || cluster.acted[0] != "stop b" {
		t.Errorf("acted %v", cluster.acted)
	}
}
