// Package cluster starts and stops the servers that the Kubernetes storage
// suite runs against: an etcd or lockstep cluster of one or more members
// on free 127.0.0.1 ports, as child processes of the caller. Every process
// it starts runs in its own process group and is stopped by that group's
// id, never by name.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kind names the server software of a cluster.
type Kind string

const (
	// Etcd is etcd itself (the control): members run `etcd FLAGS`.
	Etcd Kind = "etcd"
	// Lockstep is lockstep: members run `lockstep serve FLAGS`, with the
	// same flag names as etcd.
	Lockstep Kind = "lockstep"
)

// Spec describes a cluster to start.
type Spec struct {
	// Kind is the server software.
	Kind Kind
	// Binary is the path of the etcd or lockstep executable.
	Binary string
	// Members is the number of members, at least 1.
	Members int
	// WatchProgressNotifyInterval, when not zero, is passed to every member
	// as --watch-progress-notify-interval; zero leaves the server's
	// default (10 minutes for both).
	WatchProgressNotifyInterval time.Duration
	// Directory is where the members' data directories and logs go
	// (DefaultDirectory when empty; callers pass a NewRunDirectory): Start
	// creates a fresh directory inside it and Stop removes it unless
	// KeepFiles is set.
	Directory string
	// KeepFiles keeps the data and logs after Stop, for debugging.
	KeepFiles bool
	// StartTimeout bounds how long Start waits for every member to serve
	// a linearizable read; 30 seconds when zero.
	StartTimeout time.Duration
}

// Cluster is a running cluster started by Start.
type Cluster struct {
	spec      Spec
	directory string
	members   []*member
}

// UnknownFlagError is returned by Start when a member's binary rejects a
// flag it was given: typically a lockstep build that predates the flag.
type UnknownFlagError struct {
	Binary string
	Flag   string
}

func (e *UnknownFlagError) Error() string {
	return fmt.Sprintf("%s does not know the flag %s (this build predates it)", filepath.Base(e.Binary), e.Flag)
}

// Start starts the cluster described by spec and returns once every member
// serves a linearizable read, or an error after stopping whatever it
// started. A member whose port was taken between choosing and binding it
// (another process on the machine) makes Start try again on new ports, up
// to three times.
func Start(ctx context.Context, spec Spec) (*Cluster, error) {
	if spec.Kind != Etcd && spec.Kind != Lockstep {
		return nil, fmt.Errorf("cluster: unknown kind %q (want %q or %q)", spec.Kind, Etcd, Lockstep)
	}
	if spec.Members < 1 {
		return nil, fmt.Errorf("cluster: %d members requested (want at least 1)", spec.Members)
	}
	if spec.Binary == "" {
		return nil, errors.New("cluster: no binary given")
	}
	if spec.Directory == "" {
		spec.Directory = DefaultDirectory()
	}
	if spec.StartTimeout == 0 {
		spec.StartTimeout = 30 * time.Second
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		cluster, err := startOnce(ctx, spec)
		if err == nil {
			return cluster, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

// startOnce makes one attempt at starting the cluster on newly chosen ports.
func startOnce(ctx context.Context, spec Spec) (*Cluster, error) {
	directory, err := os.MkdirTemp(spec.Directory, fmt.Sprintf("%s-%d-", spec.Kind, spec.Members))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cluster := &Cluster{spec: spec, directory: directory}
	ports, err := freePorts(2 * spec.Members)
	if err != nil {
		cluster.Stop()
		return nil, err
	}
	var initialCluster []string
	for index := 0; index < spec.Members; index++ {
		member := &member{
			name:      fmt.Sprintf("member%d", index+1),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*index]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*index+1]),
			directory: filepath.Join(directory, fmt.Sprintf("member%d", index+1)),
		}
		cluster.members = append(cluster.members, member)
		initialCluster = append(initialCluster, member.name+"="+member.peerURL)
	}
	for _, member := range cluster.members {
		if err := member.start(spec, strings.Join(initialCluster, ",")); err != nil {
			cluster.Stop()
			return nil, err
		}
	}
	readyContext, cancel := context.WithTimeout(ctx, spec.StartTimeout)
	defer cancel()
	for _, member := range cluster.members {
		if err := member.waitReady(readyContext, spec); err != nil {
			cluster.Stop()
			return nil, err
		}
	}
	return cluster, nil
}

// Endpoints returns the members' client URLs.
func (c *Cluster) Endpoints() []string {
	endpoints := make([]string, 0, len(c.members))
	for _, member := range c.members {
		endpoints = append(endpoints, member.clientURL)
	}
	return endpoints
}

// Directory returns the directory holding the members' data and logs.
func (c *Cluster) Directory() string { return c.directory }

// Stop stops every member (SIGTERM to its process group, SIGKILL after 10
// seconds) and removes the cluster's directory unless the spec keeps it.
// It is safe to call more than once.
func (c *Cluster) Stop() {
	for _, member := range c.members {
		member.stop(10 * time.Second)
	}
	if !c.spec.KeepFiles && c.directory != "" {
		os.RemoveAll(c.directory)
	}
}
