package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeServer writes an executable shell script standing in for a server
// binary and returns its path.
func fakeServer(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lockstep")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartReportsAnUnknownFlag checks that a binary rejecting a flag (as
// cobra words it) yields an UnknownFlagError naming the flag, promptly.
func TestStartReportsAnUnknownFlag(t *testing.T) {
	binary := fakeServer(t, `echo "lockstep: unknown flag: --watch-progress-notify-interval" >&2; exit 1`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Start(ctx, Spec{Kind: Lockstep, Binary: binary, Members: 1, Directory: t.TempDir(), WatchProgressNotifyInterval: time.Second})
	var unknown *UnknownFlagError
	if !errors.As(err, &unknown) {
		t.Fatalf("Start returned %v, want an UnknownFlagError", err)
	}
	if unknown.Flag != "--watch-progress-notify-interval" {
		t.Errorf("UnknownFlagError names %q", unknown.Flag)
	}
	if !IsUnknownFlag(err) {
		t.Error("IsUnknownFlag is false for an UnknownFlagError")
	}
}

// TestStartReportsAnEarlyExit checks that a member exiting while starting
// fails Start with the end of its log, and that Start removes its files.
func TestStartReportsAnEarlyExit(t *testing.T) {
	binary := fakeServer(t, `echo "first line"; echo "cannot open the data directory" >&2; exit 3`)
	directory := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Start(ctx, Spec{Kind: Etcd, Binary: binary, Members: 3, Directory: directory})
	if err == nil || !strings.Contains(err.Error(), "cannot open the data directory") || IsUnknownFlag(err) {
		t.Fatalf("Start returned %v, want the member's exit with its log", err)
	}
	if entries, _ := os.ReadDir(directory); len(entries) != 0 {
		t.Errorf("Start left %d entries in its directory after failing", len(entries))
	}
}

// TestStartRejectsBadSpecs checks the precise errors of impossible specs.
func TestStartRejectsBadSpecs(t *testing.T) {
	for _, spec := range []Spec{
		{Kind: "zookeeper", Binary: "x", Members: 1},
		{Kind: Etcd, Binary: "x", Members: 0},
		{Kind: Etcd, Members: 1},
	} {
		if _, err := Start(context.Background(), spec); err == nil {
			t.Errorf("Start(%+v) succeeded", spec)
		}
	}
}

// TestMemberArguments checks the flags a member gets: etcd's names, the
// serve subcommand for lockstep, the interval only when asked for.
func TestMemberArguments(t *testing.T) {
	m := &member{name: "member1", clientURL: "http://127.0.0.1:1", peerURL: "http://127.0.0.1:2", directory: "/d"}
	etcd := strings.Join(m.arguments(Spec{Kind: Etcd}, "member1=http://127.0.0.1:2"), " ")
	if strings.HasPrefix(etcd, "serve") || strings.Contains(etcd, "progress") || !strings.Contains(etcd, "--initial-cluster=member1=http://127.0.0.1:2") {
		t.Errorf("etcd's arguments: %s", etcd)
	}
	lockstep := m.arguments(Spec{Kind: Lockstep, WatchProgressNotifyInterval: time.Second}, "member1=http://127.0.0.1:2")
	if lockstep[0] != "serve" || lockstep[len(lockstep)-1] != "--watch-progress-notify-interval=1s" {
		t.Errorf("lockstep's arguments: %v", lockstep)
	}
}

// TestTail checks that tail keeps the last lines.
func TestTail(t *testing.T) {
	if got := tail([]byte("a\nb\nc\n"), 2); got != "b\nc" {
		t.Errorf("tail = %q, want %q", got, "b\nc")
	}
	if got := tail([]byte("a"), 5); got != "a" {
		t.Errorf("tail = %q, want %q", got, "a")
	}
}

// TestRemoveStaleRunDirectories checks that only the run directories of
// processes that exited are removed.
func TestRemoveStaleRunDirectories(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	stale := filepath.Join(parent, fmt.Sprintf("%s%d-1", runDirectoryPrefix, exited.Process.Pid))
	live := filepath.Join(parent, fmt.Sprintf("%s%d-2", runDirectoryPrefix, os.Getpid()))
	other := filepath.Join(parent, "k8s-compat-etcd-1-3")
	for _, directory := range []string{stale, live, other} {
		if err := os.MkdirAll(filepath.Join(directory, "member1"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleRunDirectories(parent)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the directory of exited process %d is still there (%v)", exited.Process.Pid, err)
	}
	for _, kept := range []string{live, other} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s was removed: %v", kept, err)
		}
	}
}
