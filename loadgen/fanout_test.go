package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFanoutStampsAndReadsSendTimes(t *testing.T) {
	f := &fanout{epoch: time.Now().Add(-time.Hour)}
	before := time.Now()
	value := f.stamp(strings.Repeat("v", 40))
	sent, ok := f.sentAt([]byte(value))
	if !ok || len(value) != 40 || sent.Before(before.Add(-time.Microsecond)) || sent.After(time.Now()) {
		t.Fatalf("stamped %q: read %v (%v), want a time between %v and now", value, sent, ok, before)
	}
	for _, foreign := range []string{"short", "not-hex-at-all!!-and-more"} {
		if _, ok := f.sentAt([]byte(foreign)); ok {
			t.Errorf("%q read as a send time", foreign)
		}
	}
}

func TestFanoutCountsFailuresInTheWindowOnly(t *testing.T) {
	f := &fanout{}
	t1 := newTally(WorkloadWatchFanout)
	f.fail(errors.New("before any window"))
	f.measure(time.Now().Add(-time.Second), time.Time{}, t1)
	f.fail(errors.New("watch cancelled: in the window"))
	f.close(time.Now().Add(-time.Millisecond))
	f.fail(errors.New("after the window"))
	if t1.errorCount.Load() != 1 || t1.errors.counts()["watch cancelled: in the window"] != 1 {
		t.Fatalf("%d errors %v, want the one in the window", t1.errorCount.Load(), t1.errors.counts())
	}
	t2 := newTally(WorkloadWatchFanout)
	f.measure(time.Now().Add(-time.Second), time.Now().Add(time.Hour), t2) // bounded by a duration
	f.fail(errors.New("in a bounded window"))
	if t2.errorCount.Load() != 1 {
		t.Fatal("a failure inside a window with a known end was not counted")
	}
}

func TestFanoutWritersWaitForTheirEvents(t *testing.T) {
	f := &fanout{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan time.Time, 1)
	go func() {
		at, err := f.await(ctx, 3)
		if err != nil {
			t.Error(err)
		}
		done <- at
	}()
	// Wait until the writer is registered, then deliver in two parts.
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.waitMutex.Lock()
		waiting := len(f.waiters)
		f.waitMutex.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never waited")
		}
		time.Sleep(time.Millisecond)
	}
	first := time.Now()
	f.deliver(2, first)
	f.waitMutex.Lock()
	stillWaiting := len(f.waiters)
	f.waitMutex.Unlock()
	if stillWaiting != 1 {
		t.Fatal("the writer was released with 2 of its 3 events")
	}
	last := first.Add(time.Millisecond)
	f.deliver(1, last)
	if at := <-done; !at.Equal(last) {
		t.Fatalf("released at %v, want the arrival of the last event %v", at, last)
	}
	if at, err := f.await(ctx, 3); err != nil || at.IsZero() {
		t.Fatalf("a target already reached: %v %v", at, err)
	}
	expired, cancelExpired := context.WithCancel(ctx)
	cancelExpired()
	if _, err := f.await(expired, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("await with a cancelled context: %v", err)
	}
	if len(f.waiters) != 0 {
		t.Fatalf("%d waiters left behind", len(f.waiters))
	}
}
