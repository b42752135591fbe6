package server

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/internal/syncbuffer"
	"github.com/lockstepdb/lockstep/internal/testpki"
)

// handshake connects a client presenting clientName's certificate to a
// listener using the server configuration, and returns the server side's
// handshake error.
func handshake(t *testing.T, authority *testpki.Authority, server *tls.Config, clientName string) error {
	t.Helper()
	listener, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	accepted := make(chan error, 1)
	go func() {
		connection, err := listener.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer connection.Close()
		accepted <- connection.(*tls.Conn).Handshake()
	}()
	client := authority.MutualTLS(t, clientName)
	if connection, err := tls.Dial("tcp", listener.Addr().String(), client); err == nil {
		// With TLS 1.3 the client finishes before the server has checked
		// its certificate; reading makes it wait for the server's verdict.
		_, _ = connection.Read(make([]byte, 1))
		connection.Close()
	}
	return <-accepted
}

// TestPeerCertificatesAreChecked runs real handshakes against the peer
// listener's configuration with --peer-cert-allowed-cn and
// --peer-cert-allowed-hostname: the allowed peer is accepted, another
// (signed by the same CA) refused with a log line naming its address and
// why.
func TestPeerCertificatesAreChecked(t *testing.T) {
	authority := testpki.NewAuthority(t, "peer identity CA")
	base := authority.MutualTLS(t, "member")
	for _, c := range []struct {
		name              string
		allowedCN, host   string
		client            string
		refused           bool
		reasonInTheLogHas string // as the text log writes it, quotes escaped
	}{
		{"allowed common name", "member", "", "member", false, ""},
		{"another common name", "member", "", "intruder", true, `Common Name \"intruder\" is not the allowed \"member\"`},
		{"allowed host name", "", "127.0.0.1", "anyone", false, ""},
		{"another host name", "", "member.example.com", "anyone", true, `not valid for the allowed host name \"member.example.com\" (--peer-cert-allowed-hostname); it names 127.0.0.1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs syncbuffer.Buffer
			restricted := restrictPeers(base, c.allowedCN, c.host, slog.New(slog.NewTextHandler(&logs, nil)))
			err := handshake(t, authority, restricted, c.client)
			if refused := err != nil; refused != c.refused {
				t.Fatalf("handshake error %v, want refused %v", err, c.refused)
			}
			logged := logs.String()
			if c.refused && (!strings.Contains(logged, "refusing a peer connection") || !strings.Contains(logged, c.reasonInTheLogHas) || !strings.Contains(logged, "remote=127.0.0.1:")) {
				t.Errorf("the refusal's log line lacks the reason %q or the address:\n%s", c.reasonInTheLogHas, logged)
			}
			if !c.refused && logged != "" {
				t.Errorf("an allowed peer was logged:\n%s", logged)
			}
		})
	}
	// The dialing side is not restricted: a member may dial peers whose
	// server certificates have other names.
	restricted := restrictPeers(base, "someone-else", "", slog.New(slog.DiscardHandler))
	if restricted.VerifyConnection != nil || restricted.VerifyPeerCertificate != nil {
		t.Error("the client side of the peer configuration checks names too")
	}
	if base.GetConfigForClient != nil {
		t.Error("restrictPeers changed the configuration it was given")
	}
}

func TestPeerIdentityNeedsClientCertificates(t *testing.T) {
	authority := testpki.NewAuthority(t, "peer identity CA")
	mutual := authority.MutualTLS(t, "member")
	serverOnly := mutual.Clone()
	serverOnly.ClientAuth = tls.NoClientCert
	for _, c := range []struct {
		name          string
		change        func(*Config)
		wantErrorHave string
	}{
		{"both set", func(c *Config) {
			c.PeerTLS, c.PeerCertAllowedCN, c.PeerCertAllowedHostname = mutual, "member", "member.example.com"
		}, "cannot both be set"},
		{"no peer TLS", func(c *Config) { c.PeerCertAllowedCN = "member" }, "need --peer-client-cert-auth"},
		{"peer TLS without client certificates", func(c *Config) { c.PeerTLS, c.PeerCertAllowedHostname = serverOnly, "member.example.com" }, "need --peer-client-cert-auth"},
	} {
		t.Run(c.name, func(t *testing.T) {
			config := Config{Name: "a", DataDirectory: t.TempDir(), ListenClientURLs: []string{"http://127.0.0.1:0"},
				ListenPeerURLs: []string{"https://127.0.0.1:2380"}, InitialCluster: map[string][]string{"a": {"https://127.0.0.1:2380"}}}
			c.change(&config)
			if err := config.Validate(); err == nil || !strings.Contains(err.Error(), c.wantErrorHave) {
				t.Fatalf("Validate: %v, want an error with %q", err, c.wantErrorHave)
			}
		})
	}
	valid := Config{Name: "a", DataDirectory: t.TempDir(), ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs: []string{"https://127.0.0.1:2380"}, InitialCluster: map[string][]string{"a": {"https://127.0.0.1:2380"}},
		PeerTLS: mutual, PeerCertAllowedCN: "member"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("a valid configuration: %v", err)
	}
}
