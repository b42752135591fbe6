package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// gatewayExchange is one HTTP request to a client port and what came back:
// the status and the body, decoded as JSON when it is, with the fields
// that name the cluster and member, and the term, taken out of every
// response header (they differ between any two clusters).
type gatewayExchange struct {
	Status int
	Body   any
}

func exchange(t *testing.T, client *http.Client, endpoint, method, path, body string) gatewayExchange {
	t.Helper()
	request, err := http.NewRequest(method, "http://"+endpoint+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	response, err := client.Do(request)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	var decoded any
	if json.Unmarshal(raw, &decoded) != nil {
		decoded = string(raw)
	}
	return gatewayExchange{Status: response.StatusCode, Body: withoutIdentities(decoded)}
}

// withoutIdentities drops cluster_id, member_id and raft_term from every
// object named header.
func withoutIdentities(value any) any {
	switch typed := value.(type) {
	case map[string]any:
		for key, inner := range typed {
			if header, ok := inner.(map[string]any); ok && key == "header" {
				delete(header, "cluster_id")
				delete(header, "member_id")
				delete(header, "raft_term")
			}
			typed[key] = withoutIdentities(inner)
		}
	case []any:
		for i, inner := range typed {
			typed[i] = withoutIdentities(inner)
		}
	}
	return value
}

// TestGatewayMatchesEtcd sends the same HTTP requests to etcd v3.7.3's
// client port and to lockstep's, in the same order, and expects the same
// answers, status and JSON, but for the cluster's and member's IDs and
// the term: /version, /health, the JSON gateway's writes, reads,
// transactions and deletions (keys and values in base64), and its errors
// for a missing key, malformed JSON, a wrong method and an unknown path.
func TestGatewayMatchesEtcd(t *testing.T) {
	etcd := startEtcd(t)
	ctx := testContext(t)
	etcdKV, _ := etcdAPI(t, etcd)
	waitForEtcd(ctx, t, etcdKV)
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	lockstep := cluster.endpoint(0)
	client := &http.Client{Timeout: 10 * time.Second}
	waitForSettledVersions(t, client, etcd)
	// a, b, c, x, y in base64: YQ==, Yg==, Yw==, eA==, eQ==
	for _, request := range []struct{ method, path, body string }{
		{http.MethodGet, "/version", ""},
		{http.MethodGet, "/health", ""},
		{http.MethodPost, "/v3/kv/put", `{"key": "YQ==", "value": "eA=="}`},
		{http.MethodPost, "/v3/kv/put", `{"key": "YQ==", "value": "eQ==", "prev_kv": true}`},
		{http.MethodPost, "/v3/kv/put", `{"key": "Yg==", "value": "eA=="}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "YQ=="}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "YQ==", "range_end": "Yw==", "keys_only": true}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "YQ==", "range_end": "Yw==", "count_only": true}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "YQ==", "revision": "2"}`},
		{http.MethodPost, "/v3/kv/txn", `{"compare": [{"key": "YQ==", "target": "VALUE", "result": "EQUAL", "value": "eQ=="}],
			"success": [{"request_put": {"key": "Yw==", "value": "eA=="}}], "failure": [{"request_range": {"key": "YQ=="}}]}`},
		{http.MethodPost, "/v3/kv/deleterange", `{"key": "YQ==", "range_end": "Yw==", "prev_kv": true}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "AA==", "range_end": "AA=="}`},
		{http.MethodPost, "/v3/kv/compaction", `{"revision": "3"}`},
		{http.MethodPost, "/v3/kv/range", `{"key": "YQ==", "revision": "2"}`},
		{http.MethodPost, "/v3/kv/put", `{"value": "eA=="}`},
		{http.MethodPost, "/v3/kv/put", `{"key": `},
		{http.MethodGet, "/v3/kv/put", ""},
		{http.MethodPost, "/v3/nothing", `{}`},
	} {
		want := exchange(t, client, etcd, request.method, request.path, request.body)
		got := exchange(t, client, lockstep, request.method, request.path, request.body)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s %s:\n lockstep %+v\n etcd     %+v", request.method, request.path, request.body, got, want)
		}
	}
	// A watch stream of three creates (two for IDs the server picks, one
	// naming its own), then a put each watch sees: the same answers in
	// the same order, watch IDs included.
	watches := `{"create_request": {"key": "eg=="}} {"create_request": {"key": "eg==", "prev_kv": true}} {"create_request": {"key": "eg==", "watch_id": "7"}}`
	want := watchAnswers(t, etcd, watches, 6)
	got := watchAnswers(t, lockstep, watches, 6)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the watch stream:\n lockstep %v\n etcd     %v", got, want)
	}
}

// waitForSettledVersions waits until etcd's /version names the same
// cluster and storage versions: a new etcd reports an older storage
// version (3.5.0) until it has decided its cluster's version and migrated
// its storage to it, a few seconds after it starts, and the comparison is
// with the versions it settles on.
func waitForSettledVersions(t *testing.T, client *http.Client, endpoint string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		answer := exchange(t, client, endpoint, http.MethodGet, "/version", "")
		versions, _ := answer.Body.(map[string]any)
		if cluster, ok := versions["etcdcluster"].(string); ok && cluster != "" && versions["storage"] == cluster {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd's versions did not settle: %+v", answer)
		}
		time.Sleep(100 * time.Millisecond) // polling a starting process, bounded
	}
}

// watchAnswers posts body to the gateway's /v3/watch at endpoint, puts z
// once the three watches are created, and returns the first count answers,
// without identities (the events' order between watches is the server's:
// they are sorted by their text).
func watchAnswers(t *testing.T, endpoint, body string, count int) []any {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), 10*time.Second)
	defer cancel()
	lines := openGatewayWatch(t, ctx, endpoint, body)
	var answers []any
	for len(answers) < count {
		answers = append(answers, withoutIdentities(nextWatchAnswer(t, lines)))
		if len(answers) == 3 {
			exchange(t, http.DefaultClient, endpoint, http.MethodPost, "/v3/kv/put", `{"key": "eg==", "value": "eA=="}`)
		}
	}
	events := answers[3:]
	sort.Slice(events, func(i, j int) bool { return fmt.Sprint(events[i]) < fmt.Sprint(events[j]) })
	return answers
}
