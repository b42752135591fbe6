package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// etcd's flags that lockstep has no counterpart for are flags of serve too,
// hidden from its help, so that an etcd command line, environment or
// configuration file starts lockstep: set to anything but their zero
// value, they are ignored with one warning that lists them, or refused
// where an operator relies on them (refusedEtcdKeys).

// etcdOnlyBooleans are those of etcd's flags that take no value.
var etcdOnlyBooleans = []string{
	"enable-pprof", "force-new-cluster", "strict-reconfig-check", "unsafe-no-fsync",
	"enable-grpc-gateway", "enable-log-rotation", "enable-distributed-tracing", "memory-mlock",
	"pre-vote", "auto-tls", "peer-auto-tls",
}

// etcdTrueByDefault are those of etcd's flags lockstep lacks whose
// default is true: turning them off is what asks for something lockstep
// does not do (it always serves the JSON gateway).
var etcdTrueByDefault = []string{"enable-grpc-gateway"}

// addEtcdOnlyFlags registers, hidden, every etcd flag f does not have yet
// (call it after serve's own flags).
func addEtcdOnlyFlags(f *pflag.FlagSet) {
	for _, name := range append(slices.Clone(etcdConfigKeys), "auto-tls", "peer-auto-tls") {
		if f.Lookup(name) != nil || name == "client-transport-security" || name == "peer-transport-security" {
			continue
		}
		f.String(name, "", "etcd's "+name+": lockstep has no counterpart")
		flag := f.Lookup(name)
		flag.Hidden = true
		if slices.Contains(etcdOnlyBooleans, name) {
			flag.NoOptDefVal = "true"
		}
	}
}

// etcdOnlySettings returns a warning listing the etcd-only flags f has set
// to something, or an error for one lockstep refuses.
func etcdOnlySettings(f *pflag.FlagSet) (warnings []string, err error) {
	var ignored []string
	f.VisitAll(func(flag *pflag.Flag) {
		if !flag.Hidden || err != nil {
			return
		}
		value := flag.Value.String()
		switch {
		case value == "false" && slices.Contains(etcdTrueByDefault, flag.Name):
			ignored = append(ignored, flag.Name+"="+value)
		case value == "" || value == "false" || value == "0":
		case slices.Contains(refusedEtcdKeys, flag.Name) || flag.Name == "auto-tls" || flag.Name == "peer-auto-tls":
			err = fmt.Errorf("--%s: lockstep does not support etcd's %s (see docs/compatibility.md)", flag.Name, flag.Name)
		default:
			ignored = append(ignored, flag.Name+"="+value)
		}
	})
	if err != nil || len(ignored) == 0 {
		return nil, err
	}
	return []string{"etcd settings lockstep has no counterpart for, ignored: " + strings.Join(ignored, ", ")}, nil
}
