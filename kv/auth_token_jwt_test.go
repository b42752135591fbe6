package kv

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/lockstepdb/lockstep/internal/testkeys"
)

// testClock is a clock a test moves by hand.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

// newTestJWT returns a provider of method with the key files, verify-only
// when private is empty.
func newTestJWT(t testing.TB, method string, files testkeys.Files, clock *testClock) *JWTProvider {
	t.Helper()
	options := JWTOptions{SignMethod: method, PublicKey: readFile(t, files.Public), TTL: time.Minute, Now: clock.Now}
	if files.Private != "" {
		options.PrivateKey = readFile(t, files.Private)
	}
	provider, err := NewJWTProvider(options)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return provider
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tokenPart decodes part i (0 header, 1 claims) of a token.
func tokenPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	decoded := map[string]any{}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	return decoded
}

// TestJWTIssueVerifyExpire issues a token with each family of sign
// methods and checks etcd's claims, the header's algorithm, and expiry
// at exp by the injected clock.
func TestJWTIssueVerifyExpire(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ method, kind string }{
		{"RS256", testkeys.RSA}, {"PS384", testkeys.RSA},
		{"ES256", testkeys.P256}, {"ES512", testkeys.P521},
		{"EdDSA", testkeys.Ed25519},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			clock := &testClock{now: time.Unix(1_700_000_000, 0)}
			provider := newTestJWT(t, c.method, testkeys.Write(t, dir, c.kind), clock)
			token, err := provider.Issue("alice", 7)
			if err != nil {
				t.Fatal(err)
			}
			if header := tokenPart(t, token, 0); header["alg"] != c.method {
				t.Errorf("header %v, want alg %s", header, c.method)
			}
			claims := tokenPart(t, token, 1)
			want := map[string]any{"username": "alice", "revision": 7.0, "exp": float64(clock.now.Add(time.Minute).Unix())}
			if len(claims) != len(want) {
				t.Errorf("claims %v, want exactly %v", claims, want)
			}
			for name, value := range want {
				if claims[name] != value {
					t.Errorf("claim %s = %v, want %v", name, claims[name], value)
				}
			}
			if identity, err := provider.Verify(token); err != nil || identity != (Identity{User: "alice", Revision: 7}) {
				t.Fatalf("verify: %v %v", identity, err)
			}
			// A JWT keeps the revision it was issued at, whatever now's.
			if identity, ok := provider.Resolve(token, 9); !ok || identity.Revision != 7 {
				t.Errorf("resolve at revision 9: %v %v, want revision 7", identity, ok)
			}
			clock.now = clock.now.Add(time.Minute - time.Second)
			if _, err := provider.Verify(token); err != nil {
				t.Errorf("a second before exp: %v", err)
			}
			clock.now = clock.now.Add(time.Second)
			if _, err := provider.Verify(token); !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("at exp: %v, want expired", err)
			}
			if _, ok := provider.Resolve(token, 7); ok {
				t.Errorf("an expired token resolves")
			}
		})
	}
}

// TestJWTRefusesForeignAndTamperedTokens: a token signed with another key,
// changed after signing, naming another method, or lacking etcd's claims
// is refused.
func TestJWTRefusesForeignAndTamperedTokens(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	files := testkeys.Write(t, dir, testkeys.P256)
	provider := newTestJWT(t, "ES256", files, clock)
	other := newTestJWT(t, "ES256", testkeys.Write(t, dir, testkeys.P256), clock)
	token, err := provider.Issue("alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(token); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("another key's token: %v, want a bad signature", err)
	}

	parts := strings.Split(token, ".")
	root := base64.RawURLEncoding.EncodeToString([]byte(`{"exp":` + tokenExp(t, token) + `,"revision":3,"username":"root"}`))
	badSignature := []byte(parts[2])
	badSignature[5] ^= 1
	privateKey, err := parsePrivateKeyPEM(readFile(t, files.Private))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		signed, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	exp := clock.now.Add(time.Minute).Unix()
	refused := map[string]string{
		"claims changed to root":  parts[0] + "." + root + "." + parts[2],
		"signature changed":       parts[0] + "." + parts[1] + "." + string(badSignature),
		"no signature":            parts[0] + "." + parts[1] + ".",
		"not a token":             "token-1",
		"alg none":                sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"username": "root", "revision": 3, "exp": exp}),
		"HS256 with the pub key":  sign(jwt.SigningMethodHS256, readFile(t, files.Public), jwt.MapClaims{"username": "root", "revision": 3, "exp": exp}),
		"no username":             sign(jwt.SigningMethodES256, privateKey, jwt.MapClaims{"revision": 3, "exp": exp}),
		"no revision":             sign(jwt.SigningMethodES256, privateKey, jwt.MapClaims{"username": "alice", "exp": exp}),
		"revision not a number":   sign(jwt.SigningMethodES256, privateKey, jwt.MapClaims{"username": "alice", "revision": "3", "exp": exp}),
		"no exp (etcd allows it)": sign(jwt.SigningMethodES256, privateKey, jwt.MapClaims{"username": "alice", "revision": 3}),
	}
	// The genuine token verifies first, so it is in the provider's cache
	// of verified tokens: none of its altered copies may pass for it.
	if _, err := provider.Verify(token); err != nil {
		t.Fatal(err)
	}
	for name, forged := range refused {
		if identity, err := provider.Verify(forged); err == nil {
			t.Errorf("%s: accepted as %v", name, identity)
		}
	}
	// A token of another method with the same key pair: RS256 where
	// PS256 is configured.
	rsaFiles := testkeys.Write(t, dir, testkeys.RSA)
	rs256 := newTestJWT(t, "RS256", rsaFiles, clock)
	ps256 := newTestJWT(t, "PS256", rsaFiles, clock)
	if token, err := rs256.Issue("alice", 3); err != nil {
		t.Fatal(err)
	} else if identity, err := ps256.Verify(token); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("RS256 token where PS256 is configured: %v %v", identity, err)
	}
	// The same claims signed properly are accepted: the refusals above
	// are for what was changed, not for how the test signs.
	if identity, err := provider.Verify(sign(jwt.SigningMethodES256, privateKey, jwt.MapClaims{"username": "alice", "revision": 3, "exp": exp})); err != nil || identity.User != "alice" {
		t.Errorf("a token the test signed: %v %v", identity, err)
	}
}

// tokenExp returns the exp claim of token as JSON.
func tokenExp(t *testing.T, token string) string {
	t.Helper()
	encoded, err := json.Marshal(tokenPart(t, token, 1)["exp"])
	if err != nil {
		t.Fatal(err)
	}
	return string(encoded)
}

// TestJWTVerifyOnly: a member given only the public key verifies the
// tokens of one holding the private key, and issues none.
func TestJWTVerifyOnly(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	files := testkeys.Write(t, t.TempDir(), testkeys.Ed25519)
	issuer := newTestJWT(t, "EdDSA", files, clock)
	verifier := newTestJWT(t, "EdDSA", testkeys.Files{Public: files.Public}, clock)
	if issuer.CanIssue() == false || verifier.CanIssue() {
		t.Errorf("CanIssue: issuer %v, verifier %v", issuer.CanIssue(), verifier.CanIssue())
	}
	if _, err := verifier.Issue("alice", 1); !errors.Is(err, ErrJWTVerifyOnly) {
		t.Errorf("issue without the private key: %v", err)
	}
	token, err := issuer.Issue("alice", 4)
	if err != nil {
		t.Fatal(err)
	}
	if identity, err := verifier.Verify(token); err != nil || identity != (Identity{User: "alice", Revision: 4}) {
		t.Errorf("verifier: %v %v", identity, err)
	}
}

// TestJWTStoreAuthRevision: a store resolving JWTs gives a token the
// revision it was issued at, so any change of the auth store since makes
// a request with it old (ErrGRPCAuthOldRevision), as etcd's; a user
// deleted since cannot use one either. Simple tokens would go on working
// (TestAuthTokens).
func TestJWTStoreAuthRevision(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	provider := newTestJWT(t, "RS256", testkeys.Write(t, t.TempDir(), testkeys.RSA), clock)
	h := newHarness(t, Options{AuthTokens: provider})
	root, _ := setUpAlice(t, h)
	if h.store.Tokens() != provider {
		t.Fatalf("the store resolves tokens with %v", h.store.Tokens())
	}
	checked, err := h.store.CheckPassword("alice", "alice")
	if err != nil {
		t.Fatal(err)
	}
	token, err := provider.Issue("alice", checked)
	if err != nil {
		t.Fatal(err)
	}
	alice, ok := h.store.TokenIdentity(token)
	if !ok || alice != (Identity{User: "alice", Revision: checked}) {
		t.Fatalf("identity %v %v", alice, ok)
	}
	put := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("app/x"), Value: []byte("v")}}
	wantOK(t, "put with a fresh token", h.one(as(alice, put)))

	// Any change of the auth store, here a role for someone else.
	wantOK(t, "add role", h.one(as(root, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "ops"}})))
	alice, ok = h.store.TokenIdentity(token)
	if !ok || alice.Revision != checked {
		t.Fatalf("after a change: %v %v, want the issue revision %d", alice, ok, checked)
	}
	wantError(t, "put with an old token", h.one(as(alice, put)), rpctypes.ErrGRPCAuthOldRevision)
	wantError(t, "read with an old token", h.store.Authorize(as(alice, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("app/x")}})), rpctypes.ErrGRPCAuthOldRevision)

	// A token issued again works, until the user is deleted.
	checked, _ = h.store.CheckPassword("alice", "alice")
	token, _ = provider.Issue("alice", checked)
	alice, _ = h.store.TokenIdentity(token)
	wantOK(t, "put with a new token", h.one(as(alice, put)))
	wantOK(t, "delete alice", h.one(as(root, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "alice"}})))
	wantError(t, "put by a deleted user", h.one(as(alice, put)), rpctypes.ErrGRPCAuthOldRevision)
}

// The cache of verified tokens is bounded: past maxVerifiedTokens it
// starts again, and a token that fell out verifies again.
func TestJWTVerifiedTokensAreBounded(t *testing.T) {
	var cache verifiedTokens
	expires := time.Unix(1_700_000_060, 0)
	for i := range maxVerifiedTokens + 10 {
		cache.remember(fmt.Sprint("token-", i), Identity{User: "u", Revision: 1}, expires)
	}
	if len(cache.entries) > maxVerifiedTokens {
		t.Fatalf("%d tokens cached, bound %d", len(cache.entries), maxVerifiedTokens)
	}
	if _, ok := cache.lookup("token-0", expires.Add(-time.Second)); ok {
		t.Error("the cache kept every token past its bound")
	}
	last := fmt.Sprint("token-", maxVerifiedTokens+9)
	if identity, ok := cache.lookup(last, expires.Add(-time.Second)); !ok || identity.User != "u" {
		t.Errorf("the last token remembered: %v %v", identity, ok)
	}
	if _, ok := cache.lookup(last, expires); ok {
		t.Error("a token was found at its exp")
	}
}

// BenchmarkJWTVerify verifies one client's ES256 token again and again,
// as a member does at every request of that client.
func BenchmarkJWTVerify(b *testing.B) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	provider := newTestJWT(b, "ES256", testkeys.Write(b, b.TempDir(), testkeys.P256), clock)
	token, err := provider.Issue("alice", 3)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := provider.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}
