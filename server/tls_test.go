package server

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/internal/testpki"
)

// TestMutualTLSForClientsAndPeers runs a cluster whose peers and clients
// all use mutual TLS, peers restricted by --peer-cert-allowed-hostname:
// writes through a follower (forwarded to the leader
// over TLS) work for a client with a certificate, and a client without
// one is refused.
func TestMutualTLSForClientsAndPeers(t *testing.T) {
	ca := testpki.NewAuthority(t, "lockstep test CA")
	cluster := startCluster(t, 3, func(config *Config) {
		member := ca.Issue(t, config.Name)
		config.ClientTLS = &tls.Config{Certificates: []tls.Certificate{member}, ClientCAs: ca.Pool, RootCAs: ca.Pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		config.PeerTLS = config.ClientTLS.Clone()
		// Every member's certificate is valid for 127.0.0.1: the
		// cluster forms with the peer identity checked.
		config.PeerCertAllowedHostname = "127.0.0.1"
		clientsOverHTTPS(config)
		peersOverHTTPS(config)
	})
	ctx := testContext(t)
	follower := cluster.follower()
	client := ca.Issue(t, "client")
	withCertificate, err := clientv3.New(clientv3.Config{Endpoints: []string{cluster.endpoint(follower)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{client}, RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer withCertificate.Close()
	if _, err := withCertificate.Put(ctx, "secure", "yes"); err != nil {
		t.Fatalf("put over mutual TLS through a follower: %v", err)
	}
	if get, err := withCertificate.Get(ctx, "secure"); err != nil || len(get.Kvs) != 1 {
		t.Fatalf("get over mutual TLS: %v %v", get, err)
	}
	without, err := clientv3.New(clientv3.Config{Endpoints: []string{cluster.endpoint(follower)}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}})
	if err == nil {
		defer without.Close()
		shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := without.Get(shortCtx, "secure"); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}
}

// clientsOverHTTPS makes config's client URLs https.
func clientsOverHTTPS(config *Config) {
	for i, raw := range config.ListenClientURLs {
		config.ListenClientURLs[i] = toHTTPS(raw)
	}
}

// peersOverHTTPS makes config's peer URLs, and those of its initial
// cluster, https.
func peersOverHTTPS(config *Config) {
	for name, urls := range config.InitialCluster {
		for i, raw := range urls {
			config.InitialCluster[name][i] = toHTTPS(raw)
		}
	}
	for i, raw := range config.ListenPeerURLs {
		config.ListenPeerURLs[i] = toHTTPS(raw)
	}
}

func toHTTPS(url string) string {
	if rest, ok := strings.CutPrefix(url, "http://"); ok {
		return "https://" + rest
	}
	return url
}
