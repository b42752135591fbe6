package kv

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ParseAuthToken parses etcd's --auth-token: "simple", or
// "jwt,pub-key=PATH,priv-key=PATH,sign-method=METHOD,ttl=DURATION" (options
// in any order; priv-key and ttl optional), and reads the key files. It
// returns nil for simple tokens, which the Store makes itself (they live
// in its memory and follow its Apply), and the JWTProvider for jwt. The
// error names the option at fault. Unlike etcd, which logs an unknown
// option and goes on, an unknown option is an error (a misspelt priv-key
// would otherwise silently make the member verify-only), and pub-key is
// required (etcd derives it from priv-key; an operator who keeps the two
// files apart should see which one a member verifies with).
func ParseAuthToken(spec string) (TokenProvider, error) {
	kind, rest, _ := strings.Cut(spec, ",")
	switch kind {
	case "simple":
		if rest != "" {
			return nil, fmt.Errorf("simple takes no options, got %q (its lifetime is --auth-token-ttl)", rest)
		}
		return nil, nil
	case "jwt":
	case "":
		return nil, errors.New("empty: want simple or jwt,pub-key=PATH,priv-key=PATH,sign-method=METHOD[,ttl=DURATION]")
	default:
		return nil, fmt.Errorf("unknown token kind %q: want simple or jwt", kind)
	}
	options, err := parseTokenOptions(rest)
	if err != nil {
		return nil, err
	}
	var jwtOptions JWTOptions
	for name, value := range options {
		switch name {
		case "sign-method":
			jwtOptions.SignMethod = value
		case "ttl":
			ttl, err := time.ParseDuration(value)
			if err != nil {
				return nil, fmt.Errorf("ttl %q: want a duration such as 5m or 1h30m", value)
			}
			if ttl <= 0 {
				return nil, fmt.Errorf("ttl must be positive, got %v", ttl)
			}
			jwtOptions.TTL = ttl
		case "pub-key":
			if jwtOptions.PublicKey, err = readKeyFile(name, value); err != nil {
				return nil, err
			}
		case "priv-key":
			if jwtOptions.PrivateKey, err = readKeyFile(name, value); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown jwt option %q: want pub-key, priv-key, sign-method or ttl", name)
		}
	}
	switch {
	case options["sign-method"] == "":
		return nil, fmt.Errorf("jwt needs sign-method=METHOD (one of %s)", strings.Join(jwtSignMethods, ", "))
	case options["pub-key"] == "":
		return nil, errors.New("jwt needs pub-key=PATH, the PEM file of the public key tokens are verified with")
	}
	jwtOptions.PublicKeySource, jwtOptions.PrivateKeySource = options["pub-key"], options["priv-key"]
	return NewJWTProvider(jwtOptions)
}

// parseTokenOptions splits "name=value,name=value"; each option once,
// each with a value.
func parseTokenOptions(list string) (map[string]string, error) {
	options := map[string]string{}
	if list == "" {
		return options, nil
	}
	for _, item := range strings.Split(list, ",") {
		name, value, ok := strings.Cut(item, "=")
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("option %q is not name=value", item)
		case value == "":
			return nil, fmt.Errorf("option %s has no value", name)
		}
		if _, twice := options[name]; twice {
			return nil, fmt.Errorf("option %s is given twice", name)
		}
		options[name] = value
	}
	return options, nil
}

// readKeyFile reads the key file an option names.
func readKeyFile(option, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", option, err)
	}
	return data, nil
}
