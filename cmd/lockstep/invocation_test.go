package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestInvocationRunsAsPrinted: hints name the binary the way it can be run
// again: go run's temporary binary as go run, a binary on the PATH by its
// name, any other by its path.
func TestInvocationRunsAsPrinted(t *testing.T) {
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	directory := t.TempDir()
	installed := filepath.Join(directory, "lockstep")
	if err := os.WriteFile(installed, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(installed)
	if err != nil {
		t.Fatal(err)
	}
	onPath := func(string) (string, error) { return installed, nil }
	cases := []struct {
		argument0, executable string
		lookPath              func(string) (string, error)
		want                  string
	}{
		{"/tmp/go-build123/b001/exe/lockstep", "/tmp/go-build123/b001/exe/lockstep", onPath, "go run ./cmd/lockstep"},
		{"lockstep", resolved, onPath, "lockstep"},
		{"./lockstep", "/home/me/lockstep/lockstep", notFound, "./lockstep"},
		{"lockstep", "/opt/other/lockstep", onPath, "/opt/other/lockstep"},
	}
	for _, c := range cases {
		if got := invocationOf(c.argument0, c.executable, c.lookPath); got != c.want {
			t.Errorf("invocationOf(%q, %q) = %q, want %q", c.argument0, c.executable, got, c.want)
		}
	}
	if got := runnable("lockstep check --seed 1"); got != invocation()+" check --seed 1" {
		t.Errorf("runnable: %q", got)
	}
}
