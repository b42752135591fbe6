package kv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The keys of JWT tokens: PEM files as openssl writes them, checked
// against the sign method before the first token is issued, so a wrong
// file is an error at start, not a refusal of every client later.

// jwtSignMethods are the sign methods lockstep accepts, those of etcd
// with a key pair. etcd's HS256, HS384 and HS512 (a shared secret) are
// left out: every member able to verify a token could forge one.
var jwtSignMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// jwtKeyKind says which key a sign method needs: "RSA", "ECDSA P-256"
// (-384, -521) or "Ed25519"; "" for a method lockstep does not accept.
func jwtKeyKind(method string) string {
	switch method {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return "RSA"
	case "ES256":
		return "ECDSA P-256"
	case "ES384":
		return "ECDSA P-384"
	case "ES512":
		return "ECDSA P-521"
	case "EdDSA":
		return "Ed25519"
	}
	return ""
}

// keyKind describes a public key the way jwtKeyKind names what a method
// needs.
func keyKind(key crypto.PublicKey) string {
	switch key := key.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256():
			return "ECDSA P-256"
		case elliptic.P384():
			return "ECDSA P-384"
		case elliptic.P521():
			return "ECDSA P-521"
		}
		return "ECDSA " + key.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// checkKeyKind refuses a key that cannot sign or verify method's tokens.
func checkKeyKind(method string, key crypto.PublicKey) error {
	if want, got := jwtKeyKind(method), keyKind(key); want != got {
		return fmt.Errorf("sign-method %s needs an %s key, the file holds an %s key", method, want, got)
	}
	return nil
}

// pemBlocks returns the PEM blocks of data, leaving out the EC
// PARAMETERS block `openssl ecparam -genkey` writes before the key.
func pemBlocks(data []byte) []*pem.Block {
	var blocks []*pem.Block
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return blocks
		}
		if block.Type != "EC PARAMETERS" {
			blocks = append(blocks, block)
		}
		data = rest
	}
}

// onePEMBlock returns the one key block of data.
func onePEMBlock(data []byte) (*pem.Block, error) {
	blocks := pemBlocks(data)
	switch len(blocks) {
	case 0:
		return nil, errors.New("no PEM block found")
	case 1:
		return blocks[0], nil
	}
	types := make([]string, len(blocks))
	for i, block := range blocks {
		types[i] = block.Type
	}
	return nil, fmt.Errorf("%d PEM blocks (%s), want one key", len(blocks), strings.Join(types, ", "))
}

// parsePublicKeyPEM decodes a public key: PKIX ("PUBLIC KEY", what
// `openssl pkey -pubout` writes), PKCS #1 ("RSA PUBLIC KEY"), or the key
// of a certificate.
func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, err := onePEMBlock(data)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		certificate, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return certificate.PublicKey, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
}

// parsePrivateKeyPEM decodes a private key: PKCS #8 ("PRIVATE KEY", what
// `openssl genpkey` writes), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC
// PRIVATE KEY").
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, err := onePEMBlock(data)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return signer, nil
}
