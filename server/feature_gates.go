package server

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// etcdFeatureGates are etcd 3.7's feature gates and their defaults. A
// configuration written for etcd names them in --feature-gates; lockstep
// honours InitialCorruptCheck (Config.InitialCorruptCheck) and accepts the
// others at etcd's default, which asks for nothing lockstep does not do.
var etcdFeatureGates = map[string]bool{
	"InitialCorruptCheck":          false,
	"StopGRPCServiceOnDefrag":      false,
	"CompactHashCheck":             false,
	"TxnModeWriteWithSharedBuffer": true,
	"LeaseCheckpoint":              false,
	"LeaseCheckpointPersist":       false,
	"SetMemberLocalAddr":           false,
	"FastLeaseKeepAlive":           true,
	"PriorityRequest":              false,
	// The feature gate package's own: every alpha, every beta gate.
	"AllAlpha": false,
	"AllBeta":  false,
}

// ApplyFeatureGates reads etcd's --feature-gates syntax
// ("InitialCorruptCheck=true,CompactHashCheck=false") into config. A gate
// etcd does not know is an error, as in etcd; so is one of etcd's gates
// set away from its default when lockstep does not implement it, rather
// than a flag that silently does nothing.
func ApplyFeatureGates(config *Config, spec string) error {
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, raw, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return fmt.Errorf("--feature-gates: %q is not Name=true or Name=false", item)
		}
		value, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("--feature-gates: %s=%s: want true or false", name, raw)
		}
		etcdDefault, known := etcdFeatureGates[name]
		switch {
		case !known:
			return fmt.Errorf("--feature-gates: unrecognized feature gate %s (etcd's are %s)", name, strings.Join(slices.Sorted(maps.Keys(etcdFeatureGates)), ", "))
		case name == "InitialCorruptCheck":
			config.InitialCorruptCheck = value
		case value != etcdDefault:
			return fmt.Errorf("--feature-gates: lockstep does not implement etcd's %s=%t (only InitialCorruptCheck may be changed; the others are accepted at etcd's default, %t)", name, value, etcdDefault)
		}
	}
	return nil
}
