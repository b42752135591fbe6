package kv

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWTTTL is etcd's default ttl of a JWT token: how long it is
// valid after it was issued.
const DefaultJWTTTL = 5 * time.Minute

// ErrJWTVerifyOnly is Issue's error on a member given only the public
// key, with etcd's message (etcd answers it as an unknown gRPC error).
var ErrJWTVerifyOnly = errors.New("auth: token signing attempted with verify-only key")

// JWTOptions configures JWT tokens: etcd's --auth-token jwt options.
type JWTOptions struct {
	// SignMethod is the JWS algorithm of the tokens: RS256, RS384, RS512,
	// PS256, PS384, PS512 (an RSA key), ES256, ES384, ES512 (an ECDSA key
	// on P-256, P-384, P-521) or EdDSA (an Ed25519 key).
	SignMethod string
	// PublicKey is the PEM of the key tokens are verified with; required.
	PublicKey []byte
	// PrivateKey is the PEM of the key tokens are signed with, the
	// public key's pair; nil on a member that verifies tokens but issues
	// none (Issue fails with ErrJWTVerifyOnly).
	PrivateKey []byte
	// PublicKeySource and PrivateKeySource say where the keys came from
	// (their files' paths), for errors; optional.
	PublicKeySource, PrivateKeySource string
	// TTL is how long a token is valid after it was issued; 0 means
	// DefaultJWTTTL.
	TTL time.Duration
	// Now replaces the clock of issue and expiry (tests); nil means
	// time.Now.
	Now func() time.Time
}

// JWTProvider issues and verifies JWT tokens as etcd's: the claims are
// username, revision (the auth revision the user's password was checked
// at) and exp, signed with the configured method. A token is
// self-contained: any member with the public key verifies it, with no
// state shared, and it stays valid until exp. A change of the auth store
// after it was issued (a password, a role, a permission) makes its
// revision old, and the permission checks refuse it with
// ErrGRPCAuthOldRevision, as etcd's, so clients authenticate again.
type JWTProvider struct {
	method     jwt.SigningMethod
	publicKey  crypto.PublicKey
	privateKey crypto.Signer // nil: verify only
	ttl        time.Duration
	now        func() time.Time
	parser     *jwt.Parser
	verified   verifiedTokens
}

var _ TokenProvider = (*JWTProvider)(nil)

// NewJWTProvider checks options (a sign method lockstep accepts, keys of
// the kind it needs, a private key that pairs with the public one) and
// returns the provider.
func NewJWTProvider(options JWTOptions) (*JWTProvider, error) {
	if jwtKeyKind(options.SignMethod) == "" {
		return nil, fmt.Errorf("sign-method %q is not supported: want one of %s", options.SignMethod, strings.Join(jwtSignMethods, ", "))
	}
	if options.TTL < 0 {
		return nil, fmt.Errorf("ttl must be positive, got %v", options.TTL)
	}
	if options.TTL == 0 {
		options.TTL = DefaultJWTTTL
	}
	if options.Now == nil {
		options.Now = time.Now
	}
	if len(options.PublicKey) == 0 {
		return nil, errors.New("pub-key is required")
	}
	publicKey, err := parsePublicKeyPEM(options.PublicKey)
	if err == nil {
		err = checkKeyKind(options.SignMethod, publicKey)
	}
	if err != nil {
		return nil, keyError("pub-key", options.PublicKeySource, err)
	}
	provider := &JWTProvider{
		method:    jwt.GetSigningMethod(options.SignMethod),
		publicKey: publicKey,
		ttl:       options.TTL,
		now:       options.Now,
	}
	if len(options.PrivateKey) > 0 {
		privateKey, err := parsePrivateKeyPEM(options.PrivateKey)
		if err == nil {
			err = checkKeyKind(options.SignMethod, privateKey.Public())
		}
		if err != nil {
			return nil, keyError("priv-key", options.PrivateKeySource, err)
		}
		if paired, ok := privateKey.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !paired.Equal(publicKey) {
			return nil, keyError("priv-key", options.PrivateKeySource, errors.New("not the pair of pub-key"))
		}
		provider.privateKey = privateKey
	}
	// Only the configured method is accepted: a token naming another
	// (none, or HS256 with the public key as the secret) is refused
	// before its signature is looked at.
	provider.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{provider.method.Alg()}),
		jwt.WithTimeFunc(provider.now),
		jwt.WithExpirationRequired(),
	)
	return provider, nil
}

// keyError names the key an error is about, and its file if known.
func keyError(option, source string, err error) error {
	if source != "" {
		return fmt.Errorf("%s %s: %w", option, source, err)
	}
	return fmt.Errorf("%s: %w", option, err)
}

// CanIssue reports whether the provider has the private key.
func (p *JWTProvider) CanIssue() bool { return p.privateKey != nil }

// SignMethod returns the JWS algorithm of the tokens.
func (p *JWTProvider) SignMethod() string { return p.method.Alg() }

// TTL returns how long a token is valid after it was issued.
func (p *JWTProvider) TTL() time.Duration { return p.ttl }

// SelfContained is true: a JWT is valid on every member with the public
// key as soon as it is signed.
func (p *JWTProvider) SelfContained() bool { return true }

// Issue signs a token for user at auth revision revision, valid for the
// ttl from now; ErrJWTVerifyOnly without the private key.
func (p *JWTProvider) Issue(user string, revision uint64) (string, error) {
	if p.privateKey == nil {
		return "", ErrJWTVerifyOnly
	}
	claims := jwt.MapClaims{
		"username": user,
		"revision": revision,
		"exp":      p.now().Add(p.ttl).Unix(),
	}
	token, err := jwt.NewWithClaims(p.method, claims).SignedString(p.privateKey)
	if err != nil {
		return "", fmt.Errorf("kv: sign a JWT for %q: %w", user, err)
	}
	return token, nil
}

// Resolve returns the identity a valid token carries, its revision the
// one it was issued at (current is not used: a JWT does not follow the
// auth store's changes, it grows old).
func (p *JWTProvider) Resolve(token string, _ uint64) (Identity, bool) {
	identity, err := p.Verify(token)
	return identity, err == nil
}

// jwtClaims are the claims of a token; username and revision are
// pointers so that a token without them is told from one with zeros.
type jwtClaims struct {
	Username *string `json:"username"`
	Revision *uint64 `json:"revision"`
	jwt.RegisteredClaims
}

// Verify checks token's method, signature and expiry and returns the
// identity it carries; the error says why a token is refused (errors.Is
// with jwt's ErrTokenExpired, ErrTokenSignatureInvalid, ...).
func (p *JWTProvider) Verify(token string) (Identity, error) {
	if identity, ok := p.verified.lookup(token, p.now()); ok {
		return identity, nil
	}
	var claims jwtClaims
	_, err := p.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return p.publicKey, nil })
	if err != nil {
		return Identity{}, err
	}
	switch {
	case claims.Username == nil || *claims.Username == "":
		return Identity{}, errors.New("kv: JWT has no username claim")
	case claims.Revision == nil || *claims.Revision == 0:
		// Auth revisions start at 1; 0 is how a request says nobody.
		return Identity{}, errors.New("kv: JWT has no revision claim")
	}
	identity := Identity{User: *claims.Username, Revision: *claims.Revision}
	p.verified.remember(token, identity, claims.ExpiresAt.Time) // the parser requires exp
	return identity, nil
}

// String says what the provider does, for logs and serve --dry-run.
func (p *JWTProvider) String() string {
	role := "issues and verifies"
	if !p.CanIssue() {
		role = "verifies only (no priv-key)"
	}
	return fmt.Sprintf("jwt, sign-method %s, ttl %v: %s", p.method.Alg(), p.ttl, role)
}
