package suite

import (
	"testing"

	"k8s.io/apiserver/pkg/features"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
)

// The watch half of the suite: one test per RunTest* function of
// watcher_tests.go, named after it, with the store, hooks and feature gates
// Kubernetes runs it with against its etcd3 store.

func TestWatch(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatch(h.ctx, t, h.store)
}

func TestClusterScopedWatch(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestClusterScopedWatch(h.ctx, t, h.store)
}

func TestNamespaceScopedWatch(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestNamespaceScopedWatch(h.ctx, t, h.store)
}

func TestDeleteTriggerWatch(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDeleteTriggerWatch(h.ctx, t, h.store)
}

func TestWatchFromZero(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchFromZero(h.ctx, t, h.store, h.compaction())
}

func TestWatchFromNonZero(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchFromNonZero(h.ctx, t, h.store)
}

func TestDelayedWatchDelivery(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDelayedWatchDelivery(h.ctx, t, h.store)
}

func TestWatchError(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchError(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h})
}

func TestWatchContextCancel(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchContextCancel(h.ctx, t, h.store)
}

func TestWatcherTimeout(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatcherTimeout(h.ctx, t, h.store)
}

func TestWatchDeleteEventObjectHaveLatestRV(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV(h.ctx, t, h.store)
}

func TestWatchInitializationSignal(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestWatchInitializationSignal(h.ctx, t, h.store)
}

// TestOptionalProgressNotify runs RunOptionalTestProgressNotify on a
// server sending progress notifications every second, as Kubernetes does:
// the case waits for one (as a bookmark event) within 30 seconds.
func TestOptionalProgressNotify(t *testing.T) {
	h := newHarness(t, onProgressNotifyCluster(t))
	storagetesting.RunOptionalTestProgressNotify(h.ctx, t, h.store, h.increaseRV())
}

func TestWatchWithUnsafeDelete(t *testing.T) {
	setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
	h := newHarness(t)
	storagetesting.RunTestWatchWithUnsafeDelete(h.ctx, t, transformerOverrideStore{Interface: h.store, harness: h}, corruptObjectError(t))
}

// TestWatchDispatchBookmarkEvents runs on a server sending progress
// notifications every second, as Kubernetes does; the etcd3 store itself
// sends no bookmarks (its watch cache does), hence expectedWatchBookmarks
// false.
func TestWatchDispatchBookmarkEvents(t *testing.T) {
	h := newHarness(t, onProgressNotifyCluster(t))
	storagetesting.RunTestWatchDispatchBookmarkEvents(h.ctx, t, h.store, false)
}

func TestSendInitialEventsBackwardCompatibility(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunSendInitialEventsBackwardCompatibility(h.ctx, t, h.store)
}

// The watch-list cases run with and without RangeStream: a watch that
// sends initial events first lists the current state, through RangeStream
// when the gate is on. RunWatchSemantics also watches from resource
// version 1, the beginning of the cluster's history: it runs on a cluster
// of its own.

func TestWatchSemantics(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		h := newHarness(t, onFreshCluster(t))
		checkRangeStreamAtEnd(t, h, rangeStream)
		storagetesting.RunWatchSemantics(h.ctx, t, h.store)
	})
}

func TestWatchSemanticsWithConcurrentDecode(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		setFeature(t, features.ConcurrentWatchObjectDecode, true)
		h := newHarness(t, onFreshCluster(t))
		checkRangeStreamAtEnd(t, h, rangeStream)
		storagetesting.RunWatchSemantics(h.ctx, t, h.store)
	})
}

func TestWatchSemanticInitialEventsExtended(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		h := newHarness(t)
		checkRangeStreamAtEnd(t, h, rangeStream)
		storagetesting.RunWatchSemanticInitialEventsExtended(h.ctx, t, h.store)
	})
}

func TestWatchListMatchSingle(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		h := newHarness(t)
		checkRangeStreamAtEnd(t, h, rangeStream)
		storagetesting.RunWatchListMatchSingle(h.ctx, t, h.store)
	})
}

func TestWatchErrorIsBlockingFurtherEvents(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunWatchErrorIsBlockingFurtherEvents(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h})
}
