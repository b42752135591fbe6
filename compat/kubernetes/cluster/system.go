package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The environment through which a deployment is handed to the suite's
// test binary (see Deployment.Environment).
const (
	// EnvironmentSystem names the system under test (a System's Name).
	EnvironmentSystem = "COMPAT_K8S_SYSTEM"
	// EnvironmentEndpoints lists the main cluster's client URLs, comma
	// separated: a cluster with the servers' default settings.
	EnvironmentEndpoints = "COMPAT_K8S_ENDPOINTS"
	// EnvironmentProgressEndpoints lists the client URLs of a second
	// cluster whose members send watch progress notifications every
	// ProgressNotifyInterval, for the cases Kubernetes runs that way.
	EnvironmentProgressEndpoints = "COMPAT_K8S_PROGRESS_ENDPOINTS"
	// EnvironmentProgressUnavailable says why that second cluster could
	// not be started (set instead of EnvironmentProgressEndpoints).
	EnvironmentProgressUnavailable = "COMPAT_K8S_PROGRESS_UNAVAILABLE"
	// EnvironmentBinary is the system's server binary, and
	// EnvironmentDirectory the run directory to start them in, for the
	// cases that need a cluster of their own.
	EnvironmentBinary    = "COMPAT_K8S_BINARY"
	EnvironmentDirectory = "COMPAT_K8S_DIRECTORY"
)

// ProgressNotifyInterval is the watch progress-notify interval of the
// second cluster: the one second that Kubernetes' own etcd3 store tests
// configure for ProgressNotify and WatchDispatchBookmarkEvents.
const ProgressNotifyInterval = time.Second

// System is a server configuration the suite runs against: a column of
// the table.
type System struct {
	// Name is the system's short name: etcd, lockstep-1 or lockstep-3.
	Name string
	// Kind is the server software.
	Kind Kind
	// Members is the cluster size.
	Members int
}

// Systems are the configurations compared, in the table's column order.
var Systems = []System{
	{Name: "etcd", Kind: Etcd, Members: 1},
	{Name: "lockstep-1", Kind: Lockstep, Members: 1},
	{Name: "lockstep-3", Kind: Lockstep, Members: 3},
}

// LookupSystem returns the system called name.
func LookupSystem(name string) (System, error) {
	var names []string
	for _, system := range Systems {
		if system.Name == name {
			return system, nil
		}
		names = append(names, system.Name)
	}
	return System{}, fmt.Errorf("unknown system %q (want one of %s)", name, strings.Join(names, ", "))
}

// Deployment is what one run of the suite uses: the main cluster and, when
// it could be started, the progress-notify cluster.
type Deployment struct {
	System System
	// Binary is the server binary the clusters run, in Directory.
	Binary    string
	Directory string
	// Main has the servers' default settings.
	Main *Cluster
	// Progress sends watch progress notifications every
	// ProgressNotifyInterval; nil when ProgressErr says why not.
	Progress    *Cluster
	ProgressErr error
}

// Deploy starts system's two clusters from binary, in directory (a
// NewRunDirectory, which the caller removes when done). Only a failure of the main cluster is an error: the progress
// cluster's is recorded in ProgressErr, so that a binary lacking
// --watch-progress-notify-interval fails only the cases that need it.
func Deploy(ctx context.Context, system System, binary, directory string, keepFiles bool) (*Deployment, error) {
	spec := Spec{Kind: system.Kind, Binary: binary, Members: system.Members, Directory: directory, KeepFiles: keepFiles}
	main, err := Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", system.Name, err)
	}
	deployment := &Deployment{System: system, Binary: binary, Directory: directory, Main: main}
	spec.WatchProgressNotifyInterval = ProgressNotifyInterval
	deployment.Progress, deployment.ProgressErr = Start(ctx, spec)
	if deployment.ProgressErr != nil && ctx.Err() != nil {
		main.Stop()
		return nil, fmt.Errorf("starting %s: %w", system.Name, ctx.Err())
	}
	return deployment, nil
}

// Environment returns the variables that hand the deployment to the
// suite's test binary.
func (d *Deployment) Environment() []string {
	environment := []string{
		EnvironmentSystem + "=" + d.System.Name,
		EnvironmentBinary + "=" + d.Binary,
		EnvironmentDirectory + "=" + d.Directory,
		EnvironmentEndpoints + "=" + strings.Join(d.Main.Endpoints(), ","),
	}
	if d.Progress != nil {
		environment = append(environment, EnvironmentProgressEndpoints+"="+strings.Join(d.Progress.Endpoints(), ","))
	} else {
		reason := "not started"
		if d.ProgressErr != nil {
			reason = d.ProgressErr.Error()
		}
		environment = append(environment, EnvironmentProgressUnavailable+"="+fmt.Sprintf("%s with --watch-progress-notify-interval=%s did not start: %s", d.System.Name, ProgressNotifyInterval, reason))
	}
	return environment
}

// Stop stops both clusters.
func (d *Deployment) Stop() {
	if d.Progress != nil {
		d.Progress.Stop()
	}
	d.Main.Stop()
}

// IsUnknownFlag reports whether err says a binary rejected a flag.
func IsUnknownFlag(err error) bool {
	var unknown *UnknownFlagError
	return errors.As(err, &unknown)
}
