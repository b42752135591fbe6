package server

import (
	"strings"
	"testing"
)

// TestApplyFeatureGates: InitialCorruptCheck is honoured, etcd's other
// gates are accepted at their defaults and refused away from them, and
// unknown gates and malformed values are refused with the flag's name.
func TestApplyFeatureGates(t *testing.T) {
	for _, test := range []struct {
		spec  string
		check bool
		err   string
	}{
		{spec: ""},
		{spec: "InitialCorruptCheck=true", check: true},
		{spec: " InitialCorruptCheck = true , TxnModeWriteWithSharedBuffer=true,CompactHashCheck=false", check: true},
		{spec: "InitialCorruptCheck=false"},
		{spec: "CompactHashCheck=true", err: "does not implement etcd's CompactHashCheck=true"},
		{spec: "FastLeaseKeepAlive=false", err: "does not implement etcd's FastLeaseKeepAlive=false"},
		{spec: "Turbo=true", err: "unrecognized feature gate Turbo"},
		{spec: "AllAlpha=false,AllBeta=false"},
		{spec: "AllAlpha=true", err: "does not implement etcd's AllAlpha=true"},
		{spec: "InitialCorruptCheck", err: "is not Name=true"},
		{spec: "InitialCorruptCheck=yes", err: "want true or false"},
	} {
		config := Config{}
		err := ApplyFeatureGates(&config, test.spec)
		switch {
		case test.err == "" && err != nil:
			t.Errorf("%q: %v", test.spec, err)
		case test.err != "" && (err == nil || !strings.Contains(err.Error(), test.err) || !strings.Contains(err.Error(), "--feature-gates")):
			t.Errorf("%q: %v, want an error with %q", test.spec, err, test.err)
		case err == nil && config.InitialCorruptCheck != test.check:
			t.Errorf("%q: InitialCorruptCheck %t, want %t", test.spec, config.InitialCorruptCheck, test.check)
		}
	}
}
