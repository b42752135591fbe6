package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// TestClientHTTPOnItsOwnPorts: with --listen-client-http-urls the HTTP
// routes move to those ports (health, metrics, the JSON gateway, and with
// --enable-pprof the profiler) and the client port serves gRPC alone,
// closing HTTP connections, as etcd does.
func TestClientHTTPOnItsOwnPorts(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) {
		config.ListenClientHTTPURLs = []string{"http://127.0.0.1:0"}
		config.EnablePprof = true
	})
	ctx := testContext(t)
	if _, err := cluster.client(cluster.endpoint(0)).Put(ctx, "over-grpc", "1"); err != nil {
		t.Fatalf("gRPC on the client port: %v", err)
	}
	addresses := cluster.members[0].ClientHTTPAddresses()
	if len(addresses) != 1 {
		t.Fatalf("HTTP client addresses: %v", addresses)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addresses[0]
	if status, body := get(t, client, base, "/health"); status != http.StatusOK || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("/health on the HTTP port: %d %s", status, body)
	}
	if status, body := get(t, client, base, "/metrics"); status != http.StatusOK || !strings.Contains(body, "etcd_server_has_leader") {
		t.Errorf("/metrics on the HTTP port: %d, %d bytes", status, len(body))
	}
	if status, _ := get(t, client, base, "/debug/pprof/"); status != http.StatusOK {
		t.Errorf("/debug/pprof/ with EnablePprof: %d", status)
	}
	if status, answer := postJSON(t, client, base, "/v3/kv/range", `{"key": "b3Zlci1ncnBj"}`, ""); status != http.StatusOK || answer["count"] != "1" {
		t.Errorf("the gateway on the HTTP port: %d %v", status, answer)
	}
	if response, err := client.Get("http://" + cluster.endpoint(0) + "/health"); err == nil {
		response.Body.Close()
		t.Errorf("HTTP on the client port answered %d; want the connection closed (it serves gRPC alone)", response.StatusCode)
	}
}

// TestClientHTTPPortOverTLS: an https HTTP port serves with the client
// port's TLS, client certificates required as there, and to HTTP/2
// clients too (it speaks HTTP/1.1 only, which they fall back to).
func TestClientHTTPPortOverTLS(t *testing.T) {
	ca := testpki.NewAuthority(t, "lockstep test CA")
	cluster := startCluster(t, 1, func(config *Config) {
		withMutualTLSClients(t, ca, config)
		config.ListenClientHTTPURLs = []string{"https://127.0.0.1:0"}
	})
	cluster.leader()
	base := "https://" + cluster.members[0].ClientHTTPAddresses()[0]
	if status, body := get(t, httpsClient(t, ca, true), base, "/health"); status != http.StatusOK || !strings.Contains(body, `"health":"true"`) {
		t.Errorf("/health on the https HTTP port: %d %s", status, body)
	}
	expectRefusedWithoutCertificate(t, ca, base)
}
