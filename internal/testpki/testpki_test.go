package testpki

import (
	"crypto/x509"
	"testing"
)

func TestIssuedCertificatesVerifyOnlyAgainstTheirAuthority(t *testing.T) {
	authority, other := NewAuthority(t, "a"), NewAuthority(t, "b")
	leaf := authority.Issue(t, "node").Leaf
	options := x509.VerifyOptions{Roots: authority.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(options); err != nil {
		t.Fatalf("issued certificate does not verify: %v", err)
	}
	options.Roots = other.Pool
	if _, err := leaf.Verify(options); err == nil {
		t.Fatal("a certificate verified against another authority")
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
}
