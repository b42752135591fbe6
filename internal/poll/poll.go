// Package poll waits, in tests, for a condition of real servers that no
// event announces (a store recovering, a member taking over): it checks
// the condition every few milliseconds and fails the test with what it
// waited for once a bound passes. Deterministic code has no use for it.
package poll

import (
	"testing"
	"time"
)

// Bound is how long Until waits before it fails the test.
const Bound = 10 * time.Second

// interval is how often Until checks the condition.
const interval = 5 * time.Millisecond

// Until returns once condition holds; after Bound it fails t with
// "timed out waiting for " and what. Call it from the test's goroutine.
func Until(t testing.TB, what string, condition func() bool) {
	t.Helper()
	Within(t, Bound, what, condition)
}

// Within is Until with a bound of its own, for a wait whose length grows
// with the work behind it (a member catching up on a whole store).
func Within(t testing.TB, bound time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(interval)
	}
}
