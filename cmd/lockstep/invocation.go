package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// invocation is how to run this lockstep binary again from the current
// directory, for the commands that hints print ("repeat with: ..."), so
// that they run as printed: "lockstep" when that name on the PATH is this
// binary, "go run ./cmd/lockstep" under go run (whose binary is
// temporary), else the path it was started by.
func invocation() string {
	return invocationOf(os.Args[0], executablePath(), exec.LookPath)
}

func executablePath() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		return resolved
	}
	return path
}

// invocationOf decides from argument0 (os.Args[0]), the running
// executable's resolved path and a PATH lookup.
func invocationOf(argument0, executable string, lookPath func(string) (string, error)) string {
	if strings.Contains(executable, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/lockstep"
	}
	if onPath, err := lookPath("lockstep"); err == nil {
		if resolved, err := filepath.EvalSymlinks(onPath); err == nil && resolved == executable {
			return "lockstep"
		}
	}
	if strings.ContainsRune(argument0, filepath.Separator) {
		return argument0
	}
	if executable != "" {
		return executable
	}
	return "lockstep"
}

// runnable rewrites a hint's leading "lockstep " to invocation().
func runnable(command string) string {
	if rest, ok := strings.CutPrefix(command, "lockstep "); ok {
		return invocation() + " " + rest
	}
	return command
}
