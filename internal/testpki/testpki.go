// Package testpki makes throwaway certificate authorities for tests that
// run TLS and mutual TLS between processes on 127.0.0.1: the transport's,
// the runtime's and the server's.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Authority is a certificate authority made up for one test. Its methods
// are safe for concurrent use.
type Authority struct {
	// Certificate is the authority's own certificate; Pool trusts only it.
	Certificate *x509.Certificate
	Pool        *x509.CertPool
	key         *ecdsa.PrivateKey
	serial      atomic.Int64
}

// NewAuthority makes an authority valid for an hour around now.
func NewAuthority(t testing.TB, name string) *Authority {
	t.Helper()
	key := newKey(t)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	certificate := sign(t, template, template, &key.PublicKey, key)
	pool := x509.NewCertPool()
	pool.AddCert(certificate)
	authority := &Authority{Certificate: certificate, Pool: pool, key: key}
	authority.serial.Store(1)
	return authority
}

// Issue makes a certificate for name, valid for 127.0.0.1, as a server and
// as a client.
func (a *Authority) Issue(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(a.serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	certificate := sign(t, template, a.Certificate, &key.PublicKey, a.key)
	return tls.Certificate{Certificate: [][]byte{certificate.Raw}, PrivateKey: key, Leaf: certificate}
}

// MutualTLS returns a configuration that presents a certificate for name
// and trusts only this authority, both ways: as a server it requires
// clients to present a certificate the authority signed.
func (a *Authority) MutualTLS(t testing.TB, name string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{a.Issue(t, name)},
		RootCAs:      a.Pool, ClientCAs: a.Pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
}

// WriteCA writes the authority's certificate as PEM to dir/name and
// returns the path: a --trusted-ca-file for processes such as etcd.
func (a *Authority) WriteCA(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writePEM(t, path, &pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate.Raw})
	return path
}

// WriteCertificate writes certificate (one Issue made) and its key as PEM
// to dir/name.crt and dir/name.key and returns the two paths: a
// --cert-file and --key-file pair.
func WriteCertificate(t testing.TB, dir, name string, certificate tls.Certificate) (certificateFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(certificate.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certificateFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, certificateFile, &pem.Block{Type: "CERTIFICATE", Bytes: certificate.Certificate[0]})
	writePEM(t, keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: key})
	return certificateFile, keyFile
}

func writePEM(t testing.TB, path string, block *pem.Block) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func sign(t testing.TB, template, parent *x509.Certificate, public any, signer *ecdsa.PrivateKey) *x509.Certificate {
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
