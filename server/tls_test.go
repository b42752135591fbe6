package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testCA issues certificates for 127.0.0.1, for clients and servers.
type testCA struct {
	certificate *x509.Certificate
	key         *ecdsa.PrivateKey
	pool        *x509.CertPool
	serial      int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lockstep test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(certificate)
	return &testCA{certificate: certificate, key: key, pool: pool, serial: 1}
}

func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	template := &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.certificate, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLSForClientsAndPeers runs a cluster whose peers and clients
// all use mutual TLS: writes through a follower (forwarded to the leader
// over TLS) work for a client with a certificate, and a client without
// one is refused.
func TestMutualTLSForClientsAndPeers(t *testing.T) {
	ca := newTestCA(t)
	cluster := startCluster(t, 3, func(config *Config) {
		member := ca.issue(t, config.Name)
		config.ClientTLS = &tls.Config{Certificates: []tls.Certificate{member}, ClientCAs: ca.pool, RootCAs: ca.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		config.PeerTLS = config.ClientTLS.Clone()
		for i, raw := range config.ListenClientURLs {
			config.ListenClientURLs[i] = "https" + raw[len("http"):]
		}
		for name, urls := range config.InitialCluster {
			for i, raw := range urls {
				if raw[:5] == "http:" {
					config.InitialCluster[name][i] = "https" + raw[len("http"):]
				}
			}
		}
		for i, raw := range config.ListenPeerURLs {
			if raw[:5] == "http:" {
				config.ListenPeerURLs[i] = "https" + raw[len("http"):]
			}
		}
	})
	ctx := testContext(t)
	follower := cluster.follower()
	client := ca.issue(t, "client")
	withCertificate, err := clientv3.New(clientv3.Config{Endpoints: []string{cluster.endpoint(follower)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{client}, RootCAs: ca.pool, MinVersion: tls.VersionTLS12}})
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
		TLS: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}})
	if err == nil {
		defer without.Close()
		shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := without.Get(shortCtx, "secure"); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}
}
