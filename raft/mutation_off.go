//go:build !mutation

package raft

// mutated reports whether the deliberate bug m is switched on: never, in a
// normal build. Being a constant false, it lets the compiler remove every
// mutated branch from the binary.
func mutated(mutation) bool { return false }
