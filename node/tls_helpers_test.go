package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// mutualTLS makes a certificate authority for one test and returns, for
// each node, a TLS configuration that presents a certificate it signed
// (valid for 127.0.0.1, as server and as client) and trusts only it, both
// ways: mutual TLS.
func mutualTLS(t *testing.T) func(raft.NodeID) *tls.Config {
	t.Helper()
	authorityKey := newKey(t)
	authorityTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lockstep test cluster"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	authority := signCertificate(t, authorityTemplate, authorityTemplate, authorityKey.Public(), authorityKey)
	trusted := x509.NewCertPool()
	trusted.AddCert(authority)
	return func(id raft.NodeID) *tls.Config {
		key := newKey(t)
		template := &x509.Certificate{
			SerialNumber: big.NewInt(int64(id) + 100), Subject: pkix.Name{CommonName: fmt.Sprintf("node %d", id)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		certificate := signCertificate(t, template, authority, key.Public(), authorityKey)
		return &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{certificate.Raw}, PrivateKey: key, Leaf: certificate}},
			RootCAs:      trusted, ClientCAs: trusted, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		}
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func signCertificate(t *testing.T, template, parent *x509.Certificate, public any, signer ed25519.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, template, parent, public, signer)
	if err != nil {
		t.Fatal(err)
	}
	certificate, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certificate
}
