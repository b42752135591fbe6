package retry

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestBackoffDoublesPerKey: a failed key waits a second, then twice as
// long after each failure up to a minute; another key never waits; a
// success forgets.
func TestBackoffDoublesPerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var backoff Backoff[int]
		if wait := backoff.Wait(1); wait != 0 {
			t.Fatalf("a key that never failed waits %v", wait)
		}
		if delay := backoff.Failed(1); delay != time.Second || backoff.Wait(1) != time.Second {
			t.Fatalf("first failure: delay %v, wait %v; want a second", delay, backoff.Wait(1))
		}
		if wait := backoff.Wait(2); wait != 0 {
			t.Fatalf("another key waits %v behind the failed one", wait)
		}
		time.Sleep(time.Second)
		if wait := backoff.Wait(1); wait != 0 {
			t.Fatalf("still waiting %v after a second", wait)
		}
		if delay := backoff.Failed(1); delay != 2*time.Second {
			t.Fatalf("second failure: delay %v, want 2s", delay)
		}
		time.Sleep(1500 * time.Millisecond)
		if wait := backoff.Wait(1); wait != 500*time.Millisecond {
			t.Fatalf("1.5 s after the second failure: wait %v, want 500ms", wait)
		}
		for range 10 {
			backoff.Failed(1)
		}
		if wait := backoff.Wait(1); wait != time.Minute {
			t.Fatalf("after many failures: wait %v, want a minute", wait)
		}
		if !backoff.Succeeded(1) || backoff.Wait(1) != 0 || backoff.Succeeded(1) {
			t.Fatal("a success did not forget the failure, or was reported twice")
		}
		backoff.Failed(1)
		if delay := backoff.Failed(2); delay != time.Second || backoff.Wait(1) != 0 {
			t.Fatalf("a failure of another key: delay %v, key 1 waits %v", delay, backoff.Wait(1))
		}
	})
}

// TestBackoffWithOtherBounds: First and Last replace the default delays.
func TestBackoffWithOtherBounds(t *testing.T) {
	backoff := Backoff[int]{First: 10 * time.Millisecond, Last: time.Second}
	var delays []time.Duration
	for range 9 {
		delays = append(delays, backoff.Failed(1))
	}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if delays[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", delays, want)
		}
	}
}
