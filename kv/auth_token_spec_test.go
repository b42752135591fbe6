package kv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/testkeys"
)

// TestParseAuthToken parses good --auth-token values: simple (nil, the
// store's own), jwt with both keys, with the public key only, and the
// default ttl.
func TestParseAuthToken(t *testing.T) {
	dir := t.TempDir()
	rsaFiles := testkeys.Write(t, dir, testkeys.RSA)
	if tokens, err := ParseAuthToken("simple"); err != nil || tokens != nil {
		t.Errorf("simple: %v %v, want nil, nil", tokens, err)
	}
	tokens, err := ParseAuthToken("jwt,pub-key=" + rsaFiles.Public + ",priv-key=" + rsaFiles.Private + ",sign-method=PS512,ttl=90s")
	if err != nil {
		t.Fatal(err)
	}
	provider := tokens.(*JWTProvider)
	if provider.SignMethod() != "PS512" || provider.TTL() != 90*time.Second || !provider.CanIssue() || !provider.SelfContained() {
		t.Errorf("parsed %v", provider)
	}
	// Options in any order; without priv-key, verify only; ttl 5m.
	tokens, err = ParseAuthToken("jwt,sign-method=RS256,pub-key=" + rsaFiles.Public)
	if err != nil {
		t.Fatal(err)
	}
	provider = tokens.(*JWTProvider)
	if provider.CanIssue() || provider.TTL() != DefaultJWTTTL {
		t.Errorf("verify-only: %v", provider)
	}
	if !strings.Contains(provider.String(), "verifies only") {
		t.Errorf("String() = %q", provider.String())
	}
}

// TestParseAuthTokenErrors: every bad --auth-token is refused with an
// error that says what is wrong.
func TestParseAuthTokenErrors(t *testing.T) {
	dir := t.TempDir()
	rsaFiles := testkeys.Write(t, dir, testkeys.RSA)
	otherRSA := testkeys.Write(t, dir, testkeys.RSA)
	p256 := testkeys.Write(t, dir, testkeys.P256)
	p384 := testkeys.Write(t, dir, testkeys.P384)
	ed := testkeys.Write(t, dir, testkeys.Ed25519)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct{ spec, want string }{
		{"", "empty: want simple or jwt"},
		{"opaque", `unknown token kind "opaque"`},
		{"simple,ttl=5m", "simple takes no options"},
		{"jwt", "jwt needs sign-method"},
		{"jwt,sign-method=RS256", "jwt needs pub-key=PATH"},
		{"jwt,pub-key=" + rsaFiles.Public, "jwt needs sign-method"},
		{"jwt,pub-key", `option "pub-key" is not name=value`},
		{"jwt,=x", `option "=x" is not name=value`},
		{"jwt,sign-method=", "option sign-method has no value"},
		{"jwt,sign-method=RS256,sign-method=RS384", "option sign-method is given twice"},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",private-key=x", `unknown jwt option "private-key"`},
		{"jwt,sign-method=HS256,pub-key=" + rsaFiles.Public, `sign-method "HS256" is not supported: want one of RS256`},
		{"jwt,sign-method=none,pub-key=" + rsaFiles.Public, `sign-method "none" is not supported`},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",ttl=soon", `ttl "soon": want a duration`},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",ttl=-5m", "ttl must be positive, got -5m0s"},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",ttl=0s", "ttl must be positive"},
		{"jwt,sign-method=RS256,pub-key=" + missing, "pub-key: open " + missing},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",priv-key=" + missing, "priv-key: open " + missing},
		{"jwt,sign-method=RS256,pub-key=" + garbage, "pub-key " + garbage + ": no PEM block found"},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Private, `PEM block "PRIVATE KEY" is not a public key`},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",priv-key=" + rsaFiles.Public, `priv-key ` + rsaFiles.Public + `: PEM block "PUBLIC KEY" is not a private key`},
		{"jwt,sign-method=ES256,pub-key=" + rsaFiles.Public, "pub-key " + rsaFiles.Public + ": sign-method ES256 needs an ECDSA P-256 key, the file holds an RSA key"},
		{"jwt,sign-method=ES256,pub-key=" + p384.Public, "sign-method ES256 needs an ECDSA P-256 key, the file holds an ECDSA P-384 key"},
		{"jwt,sign-method=RS256,pub-key=" + ed.Public, "sign-method RS256 needs an RSA key, the file holds an Ed25519 key"},
		{"jwt,sign-method=EdDSA,pub-key=" + p256.Public, "sign-method EdDSA needs an Ed25519 key, the file holds an ECDSA P-256 key"},
		{"jwt,sign-method=ES256,pub-key=" + p256.Public + ",priv-key=" + p384.Private, "priv-key " + p384.Private + ": sign-method ES256 needs an ECDSA P-256 key, the file holds an ECDSA P-384 key"},
		{"jwt,sign-method=RS256,pub-key=" + rsaFiles.Public + ",priv-key=" + otherRSA.Private, "priv-key " + otherRSA.Private + ": not the pair of pub-key"},
	}
	for _, c := range cases {
		tokens, err := ParseAuthToken(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, %v; want an error containing %q", c.spec, tokens, err, c.want)
		}
	}
}

// TestJWTKeyFormats reads the key formats openssl writes besides PKCS #8
// and PKIX: `openssl ecparam -genkey` (an EC PARAMETERS block, then SEC 1),
// `openssl genrsa -traditional` (PKCS #1) and `openssl rsa -RSAPublicKey_out`.
func TestJWTKeyFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var data []byte
		for _, block := range blocks {
			data = append(data, pem.EncodeToMemory(block)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	ecPublic, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	ecPrivatePath := write("ec.key", &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}}, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	ecPublicPath := write("ec.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: ecPublic})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPrivatePath := write("rsa.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	rsaPublicPath := write("rsa.pub", &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})
	twoKeys := write("two.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: ecPublic}, &pem.Block{Type: "PUBLIC KEY", Bytes: ecPublic})

	for _, spec := range []string{
		"jwt,sign-method=ES384,pub-key=" + ecPublicPath + ",priv-key=" + ecPrivatePath,
		"jwt,sign-method=RS384,pub-key=" + rsaPublicPath + ",priv-key=" + rsaPrivatePath,
	} {
		tokens, err := ParseAuthToken(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		token, err := tokens.Issue("alice", 2)
		if err != nil {
			t.Errorf("%s: issue: %v", spec, err)
		}
		if identity, ok := tokens.Resolve(token, 2); !ok || identity.User != "alice" {
			t.Errorf("%s: resolve: %v %v", spec, identity, ok)
		}
	}
	if _, err := ParseAuthToken("jwt,sign-method=ES384,pub-key=" + twoKeys); err == nil || !strings.Contains(err.Error(), "2 PEM blocks (PUBLIC KEY, PUBLIC KEY), want one key") {
		t.Errorf("two keys in one file: %v", err)
	}
}
