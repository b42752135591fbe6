package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// postJSON posts body to the member's client port at path, with token in
// the Authorization header if not empty, and returns the status and the
// decoded answer.
func postJSON(t *testing.T, client *http.Client, base, path, body, token string, headers ...string) (int, map[string]any) {
	t.Helper()
	request, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		request.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		request.Header.Set(headers[i], headers[i+1])
	}
	response, err := client.Do(request)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer response.Body.Close()
	var answer map[string]any
	raw, _ := io.ReadAll(response.Body)
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("POST %s: %d, not JSON: %q", path, response.StatusCode, raw)
	}
	return response.StatusCode, answer
}

// get fetches path from the member's client port.
func get(t *testing.T, client *http.Client, base, path string) (int, string) {
	t.Helper()
	response, err := client.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer response.Body.Close()
	raw, _ := io.ReadAll(response.Body)
	return response.StatusCode, string(raw)
}

// TestClientPortServesHTTPBesideGRPC: one client port answers etcd's gRPC
// API and, over HTTP/1.1, /version, /health, /metrics and the JSON gateway,
// whose output is etcd's (snake_case names, int64 as strings, bytes in
// base64); the profiler stays off the client port, and bad input gets a
// precise error.
func TestClientPortServesHTTPBesideGRPC(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	ctx := testContext(t)
	grpcClient := cluster.client(cluster.endpoint(0))
	if _, err := grpcClient.Put(ctx, "over-grpc", "1"); err != nil {
		t.Fatalf("gRPC on the client port: %v", err)
	}
	base, client := "http://"+cluster.endpoint(0), &http.Client{Timeout: 10 * time.Second}

	if status, body := get(t, client, base, "/version"); status != http.StatusOK || body != `{"etcdserver":"3.7.3","etcdcluster":"3.7.0","storage":"3.7.0"}` {
		t.Errorf("/version: %d %s", status, body)
	}
	if status, body := get(t, client, base, "/health"); status != http.StatusOK || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("/health: %d %s", status, body)
	}
	if status, body := get(t, client, base, "/metrics"); status != http.StatusOK || !strings.Contains(body, "lockstep_write_stage_seconds") {
		t.Errorf("/metrics: %d, %d bytes", status, len(body))
	}
	if status, _ := get(t, client, base, "/debug/pprof/"); status != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the client port: %d, want 404 (it belongs to the admin listener)", status)
	}

	// "foo" and "bar" in base64, as etcd's gateway documentation puts them.
	status, put := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, "")
	if status != http.StatusOK {
		t.Fatalf("/v3/kv/put: %d %v", status, put)
	}
	header, _ := put["header"].(map[string]any)
	if revision, _ := header["revision"].(string); revision != "3" || header["member_id"] == nil {
		t.Errorf("/v3/kv/put header %v: want revision \"3\" (a string, as etcd writes int64) and member_id", header)
	}
	status, got := postJSON(t, client, base, "/v3/kv/range", `{"key": "Zm9v"}`, "")
	kvs, _ := got["kvs"].([]any)
	if status != http.StatusOK || len(kvs) != 1 {
		t.Fatalf("/v3/kv/range: %d %v", status, got)
	}
	first, _ := kvs[0].(map[string]any)
	if first["value"] != "YmFy" || first["create_revision"] != "3" || first["key"] != "Zm9v" {
		t.Errorf("/v3/kv/range kv %v", first)
	}
	if response, err := grpcClient.Get(ctx, "foo"); err != nil || len(response.Kvs) != 1 || string(response.Kvs[0].Value) != "bar" {
		t.Errorf("the gateway's put read over gRPC: %v %v", response, err)
	}

	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": `, ""); status != http.StatusBadRequest || answer["message"] == nil {
		t.Errorf("malformed JSON: %d %v, want 400 with a message", status, answer)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"value": "YmFy"}`, ""); status == http.StatusOK || !strings.Contains(answer["message"].(string), "key is not provided") {
		t.Errorf("a put without a key: %d %v, want etcd's refusal", status, answer)
	}

	// Bytes that are neither HTTP/2's preface nor an HTTP request get
	// HTTP's refusal, and the port goes on serving.
	conn, err := net.Dial("tcp", cluster.endpoint(0))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("\x00\x01\x02 garbage\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 400") {
		t.Errorf("garbage got %q, want HTTP/1.1 400", line)
	}
	if _, err := grpcClient.Get(ctx, "over-grpc"); err != nil {
		t.Errorf("gRPC after the garbage: %v", err)
	}
}

// TestGatewayTakesTheTokenFromAuthorization: with auth enabled the gateway
// refuses a caller without a token, serves one whose token (from
// /v3/auth/authenticate) is in the Authorization header, and passes no
// other header on as metadata: a forwarded identity sent as a header
// grants nothing.
func TestGatewayTakesTheTokenFromAuthorization(t *testing.T) {
	cluster := startCluster(t, 1, fastBcrypt)
	ctx := testContext(t)
	grpcClient := cluster.client(cluster.endpoint(0))
	if _, err := grpcClient.UserAdd(ctx, "root", "root-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := grpcClient.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := grpcClient.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	base, client := "http://"+cluster.endpoint(0), &http.Client{Timeout: 10 * time.Second}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, ""); status == http.StatusOK || !strings.Contains(answer["message"].(string), "user name is empty") {
		t.Errorf("a put without a token: %d %v, want etcd's refusal", status, answer)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, "", "Grpc-Metadata-"+forwardedUserKey, "root"); status == http.StatusOK {
		t.Errorf("a put naming a forwarded user in a header was served: %v", answer)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, "not-a-token"); status == http.StatusOK || !strings.Contains(answer["message"].(string), "invalid auth token") {
		t.Errorf("a put with a forged token: %d %v", status, answer)
	}
	status, authenticated := postJSON(t, client, base, "/v3/auth/authenticate", `{"name": "root", "password": "root-password"}`, "")
	token, _ := authenticated["token"].(string)
	if status != http.StatusOK || token == "" {
		t.Fatalf("/v3/auth/authenticate: %d %v", status, authenticated)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, token); status != http.StatusOK {
		t.Errorf("a put with root's token: %d %v", status, answer)
	}
	// grpc-gateway's default would pass a Grpc-Metadata- header on as
	// metadata: root's token under "token" would then be believed.
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, "", "Grpc-Metadata-Token", token); status == http.StatusOK || !strings.Contains(answer["message"].(string), "user name is empty") {
		t.Errorf("a put whose token came as a Grpc-Metadata- header: %d %v, want it refused as nobody's", status, answer)
	}
}

// TestClientPortOverTLSServesHTTPToo: a client port with mutual TLS serves
// gRPC to clients that negotiate HTTP/2 and HTTP/1.1 to the others, and
// both need a client certificate.
func TestClientPortOverTLSServesHTTPToo(t *testing.T) {
	ca := testpki.NewAuthority(t, "lockstep test CA")
	cluster := startCluster(t, 1, func(config *Config) { withMutualTLSClients(t, ca, config) })
	cluster.leader()
	withCertificate := httpsClient(t, ca, false)
	base := "https://" + cluster.endpoint(0)
	if status, body := get(t, withCertificate, base, "/health"); status != http.StatusOK || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("/health over TLS: %d %s", status, body)
	}
	if status, answer := postJSON(t, withCertificate, base, "/v3/kv/put", `{"key": "Zm9v", "value": "YmFy"}`, ""); status != http.StatusOK {
		t.Errorf("/v3/kv/put over TLS: %d %v", status, answer)
	}
	expectRefusedWithoutCertificate(t, ca, base)
}

// withMutualTLSClients serves config's client port over TLS with a
// certificate from ca, requiring clients' certificates from it too.
func withMutualTLSClients(t *testing.T, ca *testpki.Authority, config *Config) {
	config.ClientTLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, config.Name)}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	clientsOverHTTPS(config)
}

// httpsClient is an HTTP client trusting ca and presenting a certificate
// it issued; with http2 it offers HTTP/2 first.
func httpsClient(t *testing.T, ca *testpki.Authority, http2 bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: http2,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "client")}, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
}

// expectRefusedWithoutCertificate checks that an HTTPS client with no
// certificate gets no answer from base.
func expectRefusedWithoutCertificate(t *testing.T, ca *testpki.Authority, base string) {
	t.Helper()
	without := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
	if response, err := without.Get(base + "/health"); err == nil {
		response.Body.Close()
		t.Errorf("a client without a certificate got %d from %s", response.StatusCode, base)
	}
}

// TestClientListenerClosesASilentConnection: a connection that sends
// nothing is closed once the classification's deadline passes, and one
// that arrives after the listener closed is refused.
func TestClientListenerClosesASilentConnection(t *testing.T) {
	bound, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var group sync.WaitGroup
	listener := newClientListener(bound, nil, false, 50*time.Millisecond, &group, slog.New(slog.DiscardHandler))
	group.Go(listener.router.Run)
	conn, err := net.Dial("tcp", bound.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a silent connection read %v, want EOF when the listener gives up on it", err)
	}
	listener.router.Close()
	group.Wait()
	if _, err := listener.grpc.Accept(); err != net.ErrClosed {
		t.Errorf("Accept after close: %v", err)
	}
	if late, err := net.Dial("tcp", bound.Addr().String()); err == nil {
		late.Close()
		t.Error("the closed port accepted a connection")
	}
}

// TestGatewayWatchStreamsEvents: a watch sent through the JSON gateway,
// its create request the whole body (so the gRPC stream's client side
// closes at once), goes on delivering events, as etcd's does.
func TestGatewayWatchStreamsEvents(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	ctx := testContext(t)
	grpcClient := cluster.client(cluster.endpoint(0))
	if _, err := grpcClient.Put(ctx, "before", "0"); err != nil {
		t.Fatal(err)
	}
	answers := openGatewayWatch(t, ctx, cluster.endpoint(0), `{"create_request": {"key": "Zm9v"}}`)
	created, _ := nextWatchAnswer(t, answers)["result"].(map[string]any)
	if created["created"] != true {
		t.Fatalf("the first answer %v, want the watch created", created)
	}
	if _, err := grpcClient.Put(ctx, "foo", "bar"); err != nil {
		t.Fatal(err)
	}
	result, _ := nextWatchAnswer(t, answers)["result"].(map[string]any)
	events, _ := result["events"].([]any)
	if len(events) != 1 {
		t.Fatalf("the next answer %v, want foo's put", result)
	}
	kv, _ := events[0].(map[string]any)["kv"].(map[string]any)
	if kv["key"] != "Zm9v" || kv["value"] != "YmFy" {
		t.Errorf("the event's kv %v, want foo=bar in base64", kv)
	}
}

// openGatewayWatch posts body to the gateway's /v3/watch at endpoint and
// returns the stream of its answers, one JSON object a line; the stream
// closes when ctx ends or the test does.
func openGatewayWatch(t *testing.T, ctx context.Context, endpoint, body string) *bufio.Scanner {
	t.Helper()
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+endpoint+"/v3/watch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { response.Body.Close() })
	return bufio.NewScanner(response.Body)
}

// nextWatchAnswer decodes the stream's next answer (protojson spaces its
// output differently from build to build, so answers are compared
// decoded, never as text).
func nextWatchAnswer(t *testing.T, answers *bufio.Scanner) map[string]any {
	t.Helper()
	if !answers.Scan() {
		t.Fatalf("the watch stream ended: %v", answers.Err())
	}
	var answer map[string]any
	if err := json.Unmarshal(answers.Bytes(), &answer); err != nil {
		t.Fatalf("%q: %v", answers.Text(), err)
	}
	return answer
}

// TestGatewayBoundsTheBody: a gateway request within the body's bound but
// above --max-request-bytes gets etcd's refusal from the server; one
// beyond the bound is refused before it is read whole.
func TestGatewayBoundsTheBody(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) { config.MaxRequestBytes = 64 << 10 })
	cluster.leader()
	base, client := "http://"+cluster.endpoint(0), &http.Client{Timeout: 10 * time.Second}
	value := func(bytes int) string { return strings.Repeat("A", bytes/3*4) } // base64 of bytes/3*3 bytes
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "`+value(32<<10)+`"}`, ""); status != http.StatusOK {
		t.Errorf("a 32 KiB put: %d %v", status, answer)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "`+value(96<<10)+`"}`, ""); status == http.StatusOK || !strings.Contains(answer["message"].(string), "too large") {
		t.Errorf("a 96 KiB put, above --max-request-bytes: %d %v, want etcd's refusal", status, answer)
	}
	limit := gatewayBodyFactor*(64<<10) + gatewayBodyMargin
	if status, answer := postJSON(t, client, base, "/v3/kv/put", `{"key": "Zm9v", "value": "`+value(limit)+`"}`, ""); status != http.StatusBadRequest || !strings.Contains(answer["message"].(string), "request body too large") {
		t.Errorf("a body beyond the bound: %d %v, want 400, request body too large", status, answer)
	}
}
