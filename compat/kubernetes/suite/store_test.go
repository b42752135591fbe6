package suite

import (
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage/etcd3"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
)

// The storage (CRUD and list) half of the suite: one test per RunTest*
// function of store_tests.go, named after it, with the store, hooks and
// feature gates Kubernetes runs it with against its etcd3 store.

func TestCreate(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestCreate(h.ctx, t, h.store, h.storageInvariants())
}

func TestCreateWithTTL(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestCreateWithTTL(h.ctx, t, h.store)
}

func TestCreateWithKeyExist(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestCreateWithKeyExist(h.ctx, t, h.store)
}

func TestGet(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGet(h.ctx, t, h.store)
}

func TestUnconditionalDelete(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestUnconditionalDelete(h.ctx, t, h.store)
}

func TestConditionalDelete(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestConditionalDelete(h.ctx, t, h.store)
}

func TestDeleteWithSuggestion(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDeleteWithSuggestion(h.ctx, t, h.store)
}

func TestDeleteWithSuggestionAndConflict(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDeleteWithSuggestionAndConflict(h.ctx, t, h.store)
}

func TestDeleteWithConflict(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDeleteWithConflict(h.ctx, t, h.store)
}

func TestDeleteWithSuggestionOfDeletedObject(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestDeleteWithSuggestionOfDeletedObject(h.ctx, t, h.store)
}

func TestValidateDeletionWithSuggestion(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestValidateDeletionWithSuggestion(h.ctx, t, h.store)
}

func TestValidateDeletionWithOnlySuggestionValid(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestValidateDeletionWithOnlySuggestionValid(h.ctx, t, h.store)
}

func TestPreconditionalDeleteWithSuggestion(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestPreconditionalDeleteWithSuggestion(h.ctx, t, h.store)
}

func TestPreconditionalDeleteWithOnlySuggestionPass(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass(h.ctx, t, h.store)
}

// The three deletions of objects the store can no longer read run, as in
// Kubernetes, with AllowUnsafeMalformedObjectDeletion on; the object
// becomes unreadable through a codec or transformer the test turns failing.

func TestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(t *testing.T) {
	setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
	codec := &failableCodec{Codec: newCodec()}
	h := newHarness(t, withCodec(codec))
	storagetesting.RunTestDeleteWithConflictAndMissingExpectedTransformOrDecodeError(h.ctx, t, h.store, codec.setFailing)
}

func TestDeleteExpectedTransformOrDecodeError(t *testing.T) {
	t.Run("TransformError", func(t *testing.T) {
		setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
		transformer := &failableTransformer{Transformer: storagetesting.NewPrefixTransformer([]byte(storedValuePrefix), false)}
		h := newHarness(t, withTransformer(transformer))
		storagetesting.RunTestDeleteExpectedTransformOrDecodeError(h.ctx, t, h.store, transformer.setFailing)
	})
	t.Run("DecodeError", func(t *testing.T) {
		setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
		codec := &failableCodec{Codec: newCodec()}
		h := newHarness(t, withCodec(codec))
		storagetesting.RunTestDeleteExpectedTransformOrDecodeError(h.ctx, t, h.store, codec.setFailing)
	})
}

func TestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(t *testing.T) {
	setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
	h := newHarness(t)
	storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(h.ctx, t, h.store)
}

func TestList(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		h := newHarness(t)
		checkRangeStreamAtEnd(t, h, rangeStream)
		storagetesting.RunTestList(h.ctx, t, h.store, h.compaction(), false, h.lists)
	})
}

func TestConsistentList(t *testing.T) {
	forEachRangeStream(t, func(t *testing.T, rangeStream bool) {
		h := newHarness(t)
		checkRangeStreamAtEnd(t, h, rangeStream)
		// No watch cache; consistent reads are supported by etcd 3.7
		// (and claimed by lockstep); lists are not served from cache
		// snapshots.
		storagetesting.RunTestConsistentList(h.ctx, t, h.store, h.increaseRV(), false, true, false)
	})
}

func TestGetListNonRecursive(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGetListNonRecursive(h.ctx, t, h.increaseRV(), h.store)
}

func TestGetListRecursivePrefix(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGetListRecursivePrefix(h.ctx, t, h.store)
}

func TestGetListWithErrorAggregation(t *testing.T) {
	setFeature(t, features.AllowUnsafeMalformedObjectDeletion, true)
	h := newHarness(t)
	store := etcd3.NewStoreWithUnsafeCorruptObjectDeletion(h.store, podsResource)
	storagetesting.RunTestGetListWithErrorAggregation(h.ctx, t, transformerOverrideStore{Interface: store, harness: h}, corruptObjectError(t))
}

func TestGetListWithoutErrorAggregation(t *testing.T) {
	setFeature(t, features.AllowUnsafeMalformedObjectDeletion, false)
	h := newHarness(t)
	storagetesting.RunTestGetListWithoutErrorAggregation(h.ctx, t, transformerOverrideStore{Interface: h.store, harness: h}, corruptObjectError(t))
}

func TestListContinuation(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestListContinuation(h.ctx, t, h.store, h.callsValidation())
}

func TestListPaginationRareObject(t *testing.T) {
	// With ListFromCacheSnapshot the store reads the compaction key too,
	// which the call count does not expect; Kubernetes turns it off here.
	setFeature(t, features.ListFromCacheSnapshot, false)
	h := newHarness(t)
	storagetesting.RunTestListPaginationRareObject(h.ctx, t, h.store, h.callsValidation())
}

func TestListContinuationWithFilter(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestListContinuationWithFilter(h.ctx, t, h.store, h.callsValidation())
}

func TestListInconsistentContinuation(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestListInconsistentContinuation(h.ctx, t, h.store, h.compaction())
}

func TestListResourceVersionMatch(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestListResourceVersionMatch(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h})
}

func TestGuaranteedUpdate(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGuaranteedUpdate(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h}, h.storageInvariants())
}

func TestGuaranteedUpdateWithTTL(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGuaranteedUpdateWithTTL(h.ctx, t, h.store)
}

func TestGuaranteedUpdateChecksStoredData(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGuaranteedUpdateChecksStoredData(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h})
}

func TestGuaranteedUpdateWithConflict(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGuaranteedUpdateWithConflict(h.ctx, t, h.store)
}

func TestGuaranteedUpdateWithSuggestionAndConflict(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict(h.ctx, t, h.store)
}

func TestTransformationFailure(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestTransformationFailure(h.ctx, t, prefixTransformerStore{Interface: h.store, harness: h})
}

func TestStats(t *testing.T) {
	for _, sizeEstimation := range []bool{true, false} {
		t.Run(fmt.Sprintf("SizeBasedListCostEstimate=%v", sizeEstimation), func(t *testing.T) {
			h := newHarness(t)
			if sizeEstimation {
				if err := h.store.EnableResourceSizeEstimation(h.resourceKeys); err != nil {
					t.Fatal(err)
				}
			}
			storagetesting.RunTestStats(h.ctx, t, h.store, h.codec, h.prefixTransformer, sizeEstimation)
		})
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestListPaging(h.ctx, t, h.store)
}

func TestNamespaceScopedList(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestNamespaceScopedList(h.ctx, t, h.store)
}

func TestCompactRevision(t *testing.T) {
	// The store learns of compactions made by others by watching the
	// compaction key, which ListFromCacheSnapshot turns on.
	setFeature(t, features.ListFromCacheSnapshot, true)
	h := newHarness(t)
	storagetesting.RunTestCompactRevision(h.ctx, t, h.store, h.increaseRV(), h.compaction())
}

func TestKeySchema(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestKeySchema(h.ctx, t, h.store)
}
