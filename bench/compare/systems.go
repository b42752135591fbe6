package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
)

// system is one of the servers compared: how to start a member, how many,
// and what version it is.
type system struct {
	Name    string   `json:"name"`
	Command []string `json:"-"` // a member's command, before its flags
	Version string   `json:"version"`
	Members int      `json:"members"`
	// memberFlags gives a member's flags when they are not etcd's (the
	// floor); nil for etcd's.
	memberFlags func(*localcluster.Member) []string
	// quota: the members take --quota-backend-bytes.
	quota bool
	// profiled: the members serve Go's profiler on a metrics listener of
	// their own, and the runs of profiledWorkload take CPU profiles of
	// them (profiles.go).
	profiled bool
}

// knownSystems are the systems --systems may name, in their default order.
var knownSystems = []string{"etcd", "lockstep", "floor"}

// prepareSystem builds (or finds) the named system's binary. etcd comes
// from internal/etcdbin (tools/build-etcd: built from the Go module proxy
// at v3.7.3, reused when up to date); lockstep is built from the working
// tree with `go build ./cmd/lockstep` into buildDirectory; the floor is
// executable, this program, run as `floor-server`, one process.
func prepareSystem(ctx context.Context, name, root, buildDirectory, executable string) (system, error) {
	switch name {
	case "etcd":
		binary, err := etcdbin.Path("etcd")
		if err != nil {
			return system{}, err
		}
		version, err := runIn(ctx, root, binary, "--version")
		if err != nil {
			return system{}, fmt.Errorf("etcd --version: %w", err)
		}
		return system{Name: name, Command: []string{binary}, Version: strings.Join(strings.Fields(version), " "), Members: members, quota: true}, nil
	case "lockstep":
		binary := filepath.Join(buildDirectory, "lockstep")
		if _, err := runIn(ctx, root, "go", "build", "-o", binary, "./cmd/lockstep"); err != nil {
			return system{}, fmt.Errorf("building lockstep: %w", err)
		}
		return system{Name: name, Command: []string{binary, "serve"}, Version: "lockstep " + treeVersion(ctx, root), Members: members, quota: true, profiled: true}, nil
	case "floor":
		return system{
			Name: name, Command: []string{executable, floorCommand}, Members: 1,
			Version:     "the protocol floor of bench/compare (" + floorVersion + "), " + treeVersion(ctx, root),
			memberFlags: func(member *localcluster.Member) []string { return []string{"--listen", member.ClientURL} },
		}, nil
	}
	return system{}, fmt.Errorf("unknown system %q (want %s)", name, strings.Join(knownSystems, ", "))
}

// treeVersion names the working tree: its commit, "+changes" if it
// differs from it.
func treeVersion(ctx context.Context, root string) string {
	commit, err := runIn(ctx, root, "git", "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "(unknown commit)"
	}
	version := "commit " + strings.TrimSpace(commit)
	if changes, err := runIn(ctx, root, "git", "status", "--porcelain", "--untracked-files=no"); err == nil && strings.TrimSpace(changes) != "" {
		version += " with uncommitted changes"
	}
	return version
}

// runIn runs a command in directory and returns its standard output; the
// error carries its standard error.
func runIn(ctx context.Context, directory, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	command := exec.CommandContext(ctx, name, args...)
	command.Dir = directory
	command.Stdout, command.Stderr = &stdout, &stderr
	if err := command.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// repositoryRoot returns the root of the git checkout around the working
// directory: where cmd/lockstep is built and the report's paths start.
func repositoryRoot(ctx context.Context) (string, error) {
	output, err := runIn(ctx, ".", "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	return strings.TrimSpace(output), nil
}
