package main

import (
	"crypto/x509"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// TestServeClientPortTrustsPeerCA checks that with --client-cert-auth and
// --peer-client-cert-auth, the client port also accepts certificates of
// the peer CA (a follower forwards a call made as a client certificate's
// user presenting its peer certificate), while the server is still
// verified with --trusted-ca-file alone; without --peer-client-cert-auth,
// the client port trusts --trusted-ca-file alone.
func TestServeClientPortTrustsPeerCA(t *testing.T) {
	dir := t.TempDir()
	clients, peers := testpki.NewAuthority(t, "client CA"), testpki.NewAuthority(t, "peer CA")
	certificate, key := testpki.WriteCertificate(t, dir, "client-port", clients.Issue(t, "m1"))
	peerCertificate, peerKey := testpki.WriteCertificate(t, dir, "peer-port", peers.Issue(t, "m1"))
	tlsFlags := []string{"--data-dir", dir,
		"--cert-file", certificate, "--key-file", key, "--trusted-ca-file", clients.WriteCA(t, dir, "client-ca.crt"), "--client-cert-auth",
		"--peer-cert-file", peerCertificate, "--peer-key-file", peerKey, "--peer-trusted-ca-file", peers.WriteCA(t, dir, "peer-ca.crt")}
	member := peers.Issue(t, "m2").Leaf
	verifies := func(pool *x509.CertPool, usage x509.ExtKeyUsage) bool {
		_, err := member.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err == nil
	}
	for _, c := range []struct {
		name             string
		args             []string
		clientPortTrusts bool
	}{
		{"with --peer-client-cert-auth", append(tlsFlags, "--peer-client-cert-auth"), true},
		{"without", tlsFlags, false},
	} {
		flags := &serveFlags{}
		command := newServeCommandWith(flags)
		if err := command.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		config, err := flags.config(io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := verifies(config.ClientTLS.ClientCAs, x509.ExtKeyUsageClientAuth); got != c.clientPortTrusts {
			t.Errorf("%s: the client port trusts a member's peer certificate: %v, want %v", c.name, got, c.clientPortTrusts)
		}
		if verifies(config.ClientTLS.RootCAs, x509.ExtKeyUsageServerAuth) {
			t.Errorf("%s: a server certificate of the peer CA is trusted on the client port", c.name)
		}
		if _, err := clients.Issue(t, "alice").Leaf.Verify(x509.VerifyOptions{Roots: config.ClientTLS.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: a client certificate is refused: %v", c.name, err)
		}
	}
}

// TestServeTakesKubeadmsEtcdCommand: the command line kubeadm writes into
// its etcd static Pod (Kubernetes 1.33 and later, for etcd 3.6 and later:
// one CA for both ports, InitialCorruptCheck on, a 5 s progress interval)
// passes lockstep serve's checks unchanged, image aside.
func TestServeTakesKubeadmsEtcdCommand(t *testing.T) {
	dir := t.TempDir()
	authority := testpki.NewAuthority(t, "etcd-ca")
	ca := authority.WriteCA(t, dir, "ca.crt")
	server, serverKey := testpki.WriteCertificate(t, dir, "server", authority.Issue(t, "node-1"))
	peer, peerKey := testpki.WriteCertificate(t, dir, "peer", authority.Issue(t, "node-1"))
	output, err := runServeDryRun(t,
		"--advertise-client-urls=https://127.0.0.1:2379",
		"--cert-file="+server,
		"--client-cert-auth=true",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--feature-gates=InitialCorruptCheck=true",
		"--initial-advertise-peer-urls=https://127.0.0.1:2380",
		"--initial-cluster=node-1=https://127.0.0.1:2380",
		"--key-file="+serverKey,
		"--listen-client-urls=https://127.0.0.1:2379",
		"--listen-metrics-urls=http://127.0.0.1:2381",
		"--listen-peer-urls=https://127.0.0.1:2380",
		"--name=node-1",
		"--peer-cert-file="+peer,
		"--peer-client-cert-auth=true",
		"--peer-key-file="+peerKey,
		"--peer-trusted-ca-file="+ca,
		"--snapshot-count=10000",
		"--trusted-ca-file="+ca,
		"--watch-progress-notify-interval=5s",
	)
	if err != nil || !strings.Contains(output, "corrupt checks   at start (InitialCorruptCheck)") {
		t.Fatalf("kubeadm's etcd command: %v\n%s", err, output)
	}
}
