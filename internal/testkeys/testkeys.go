// Package testkeys makes key pairs for tests of JWT auth tokens and
// writes them as PEM files, in the formats openssl writes: PKCS #8
// private keys and PKIX public keys.
package testkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Kinds of key pair: what each family of sign methods needs.
const (
	RSA     = "rsa"     // RS256, RS384, RS512, PS256, PS384, PS512
	P256    = "p256"    // ES256
	P384    = "p384"    // ES384
	P521    = "p521"    // ES512
	Ed25519 = "ed25519" // EdDSA
)

// Files are the paths of a key pair's PEM files.
type Files struct {
	Public, Private string
}

// Write makes a new key pair of kind and writes it to dir as
// kind-N.pub and kind-N.key; each call makes a different pair.
func Write(t testing.TB, dir, kind string) Files {
	t.Helper()
	key, err := generate(kind)
	if err != nil {
		t.Fatal(err)
	}
	private, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	public, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	counter++
	name := filepath.Join(dir, fmt.Sprintf("%s-%d", kind, counter))
	mu.Unlock()
	files := Files{Public: name + ".pub", Private: name + ".key"}
	write(t, files.Private, "PRIVATE KEY", private)
	write(t, files.Public, "PUBLIC KEY", public)
	return files
}

var (
	mu      sync.Mutex
	counter int
)

func generate(kind string) (crypto.Signer, error) {
	switch kind {
	case RSA:
		// 2048 bits, the least openssl genrsa makes and Go's crypto/rsa
		// accepts without complaint.
		return rsa.GenerateKey(rand.Reader, 2048)
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	return nil, fmt.Errorf("testkeys: unknown kind %q", kind)
}

func write(t testing.TB, path, blockType string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
