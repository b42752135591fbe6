//go:build !mutation

package mutation

// On reports whether the deliberate bug name is switched on: never, in a
// normal build.
func On(Name) bool { return false }
