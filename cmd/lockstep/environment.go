package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// The prefixes of the environment variables that set flags: lockstep's own
// first, then etcd's, so that what `etcdctl member add` prints
// (ETCD_NAME, ETCD_INITIAL_CLUSTER, ...) and the environment files written
// for etcd start a lockstep member as they would start an etcd member.
const (
	lockstepPrefix = "LOCKSTEP_"
	etcdPrefix     = "ETCD_"
)

// nonFlagVariables are LOCKSTEP_ variables that lockstep's tests and tools
// read and that name no flag: a developer's shell may well export them, and
// a warning about them would be noise.
var nonFlagVariables = map[string]bool{
	"LOCKSTEP_ETCD_BIN": true, "LOCKSTEP_BINARY": true, "LOCKSTEP_TEST_LOGS": true,
	"LOCKSTEP_KV_MODEL_SEEDS": true, "LOCKSTEP_UPDATE_SCREENSHOTS": true,
	"LOCKSTEP_CHROMIUM": true, "LOCKSTEP_ARTIFACTS": true,
}

// environmentKey is the variable that sets flag name under prefix:
// --initial-cluster is LOCKSTEP_INITIAL_CLUSTER and ETCD_INITIAL_CLUSTER.
func environmentKey(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnvironment sets every flag of flags not given on the command line
// from LOCKSTEP_<FLAG>, or else ETCD_<FLAG>: a flag beats a variable and
// LOCKSTEP_ beats ETCD_, as the help says. known is the set of flags a
// variable may name without a warning (serve's, for serve and for snapshot
// restore, which share one environment file). It returns a warning for
// every variable of either prefix that names no known flag, and for every
// variable that another source overrides; an error names the variable
// whose value the flag refuses.
func applyEnvironment(flags *pflag.FlagSet, environment []string, known *pflag.FlagSet) (warnings []string, err error) {
	values := map[string]string{}
	for _, item := range environment {
		key, value, ok := strings.Cut(item, "=")
		if ok && (strings.HasPrefix(key, lockstepPrefix) || strings.HasPrefix(key, etcdPrefix)) {
			values[key] = value
		}
	}
	recognized := map[string]bool{}
	known.VisitAll(func(flag *pflag.Flag) {
		recognized[environmentKey(lockstepPrefix, flag.Name)] = true
		recognized[environmentKey(etcdPrefix, flag.Name)] = true
	})
	flags.VisitAll(func(flag *pflag.Flag) {
		if err != nil {
			return
		}
		lockstepKey, etcdKey := environmentKey(lockstepPrefix, flag.Name), environmentKey(etcdPrefix, flag.Name)
		lockstepValue, fromLockstep := values[lockstepKey]
		etcdValue, fromEtcd := values[etcdKey]
		switch {
		case flag.Changed:
			for _, key := range []string{lockstepKey, etcdKey} {
				if value, ok := values[key]; ok && value != flag.Value.String() {
					warnings = append(warnings, fmt.Sprintf("%s=%q is ignored: --%s=%q on the command line wins", key, value, flag.Name, flag.Value.String()))
				}
			}
		case fromLockstep:
			if fromEtcd && etcdValue != lockstepValue {
				warnings = append(warnings, fmt.Sprintf("%s=%q is ignored: %s=%q wins", etcdKey, etcdValue, lockstepKey, lockstepValue))
			}
			err = setFromEnvironment(flags, flag.Name, lockstepKey, lockstepValue)
		case fromEtcd:
			err = setFromEnvironment(flags, flag.Name, etcdKey, etcdValue)
		}
	})
	if err != nil {
		return warnings, err
	}
	var unknown []string
	for key := range values {
		if !recognized[key] && !nonFlagVariables[key] {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		warnings = append(warnings, fmt.Sprintf("%s is set but names no flag of lockstep serve: ignored (is it misspelt, or an etcd flag lockstep lacks?)", key))
	}
	return warnings, nil
}

func setFromEnvironment(flags *pflag.FlagSet, name, key, value string) error {
	if err := flags.Set(name, value); err != nil {
		return fmt.Errorf("%s=%q: %v", key, value, err)
	}
	return nil
}
