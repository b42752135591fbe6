//go:build mutation

package mutation

import (
	"fmt"
	"slices"
	"sync/atomic"
)

var active atomic.Pointer[Name]

// On reports whether the deliberate bug name is switched on.
func On(name Name) bool {
	current := active.Load()
	return current != nil && *current == name
}

// Set switches one storage mutation on for the whole process, or every
// one off with the empty name; an unknown name is an error.
func Set(name Name) error {
	if name == "" {
		active.Store(nil)
		return nil
	}
	if !slices.Contains(All, name) {
		return fmt.Errorf("mutation: unknown storage mutation %q", name)
	}
	active.Store(&name)
	return nil
}
