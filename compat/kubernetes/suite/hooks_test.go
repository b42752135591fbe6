package suite

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
)

// The hooks the suite's RunTest* functions take, implemented against the
// cluster through the harness's client.

// increaseRV returns the suite's IncreaseRVFunc: a write to a key outside
// the store's resource prefix, returning the revision it made.
func (h *harness) increaseRV() storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		response, err := h.client.KV.Put(ctx, "/increase-rv", "ok")
		if err != nil {
			t.Fatalf("increasing the revision: %v", err)
		}
		return response.Header.Revision
	}
}

// compaction returns the suite's Compaction: it compacts the cluster at
// the given resource version the way kube-apiserver's compactor does
// (etcd3.Compact: a compare-and-swap on the compaction key, whose value
// every apiserver's compactor follows, then the compaction), and, when
// ListFromCacheSnapshot makes the store follow that key, waits until the
// store has seen it.
func (h *harness) compaction() storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		parsed, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatalf("compaction at %q: %v", resourceVersion, err)
		}
		revision := int64(parsed)
		compactLikeKubernetes(ctx, t, h.client.Client, revision)
		if !utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
			return
		}
		deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ticker := time.NewTicker(50 * time.Millisecond)
		defer ticker.Stop()
		for h.store.CompactRevision() < revision {
			select {
			case <-deadline.Done():
				t.Fatalf("the store did not see the compaction at %d within 30s (it has %d)", revision, h.store.CompactRevision())
			case <-ticker.C:
			}
		}
	}
}

// compactLikeKubernetes runs kube-apiserver's compaction protocol at
// revision: etcd3.Compact succeeds when the caller knows the compaction
// key's current version, and otherwise returns it, so a second call with
// it succeeds unless another compactor moved in between.
func compactLikeKubernetes(ctx context.Context, t *testing.T, client *clientv3.Client, revision int64) {
	t.Helper()
	var knownVersion int64
	for attempt := 0; attempt < 3; attempt++ {
		version, _, compacted, err := etcd3.Compact(ctx, client, knownVersion, revision)
		if err != nil {
			t.Fatalf("compaction at %d: %v", revision, err)
		}
		if version == knownVersion+1 && compacted == revision {
			return
		}
		knownVersion = version
	}
	t.Fatalf("compaction at %d: the compaction key kept changing under the compare-and-swap", revision)
}

// storageInvariants returns the suite's KeyValidation: the key's raw value
// in etcd is the transformer's prefix before the encoded object, which
// carries neither a resource version nor a self link (both are derived on
// read, never stored).
func (h *harness) storageInvariants() storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		etcdKey := h.etcdKey(t, key)
		response, err := h.client.Client.KV.Get(ctx, etcdKey)
		if err != nil {
			t.Fatalf("reading %q from etcd: %v", etcdKey, err)
		}
		if len(response.Kvs) == 0 {
			t.Fatalf("etcd has no key %q", etcdKey)
		}
		stored := response.Kvs[0].Value
		if !bytes.HasPrefix(stored, []byte(storedValuePrefix)) {
			t.Fatalf("the value of %q does not start with the transformer's prefix %q: %q", etcdKey, storedValuePrefix, stored)
		}
		decoded, err := runtime.Decode(h.codec, stored[len(storedValuePrefix):])
		if err != nil {
			t.Fatalf("decoding the value of %q: %v\n%q", etcdKey, err, stored)
		}
		pod, ok := decoded.(*example.Pod)
		if !ok {
			t.Fatalf("the value of %q decodes to %T, not *example.Pod", etcdKey, decoded)
		}
		if pod.ResourceVersion != "" {
			t.Errorf("the object stored at %q has resource version %q; it must be stored without", etcdKey, pod.ResourceVersion)
		}
		if pod.SelfLink != "" {
			t.Errorf("the object stored at %q has self link %q; it must be stored without", etcdKey, pod.SelfLink)
		}
	}
}

// callsValidation returns the suite's CallsValidation, for a store built
// with the default PrefixTransformer: after a list, the transformer has
// read exactly the objects the list processed, and the store made as many
// range requests (unary or streamed) as its paging needs.
func (h *harness) callsValidation() storagetesting.CallsValidation {
	return func(t *testing.T, pageSize, processedObjects uint64) {
		t.Helper()
		if reads := h.prefixTransformer.GetReadsAndReset(); reads != processedObjects {
			t.Errorf("the list read %d objects through the transformer, want %d", reads, processedObjects)
		}
		want := expectedRangeRequests(pageSize, processedObjects)
		if got := h.reads.GetReadsAndReset() + h.reads.GetStreamReadsAndReset(); got != want {
			t.Fatalf("the list made %d range requests, want %d", got, want)
		}
	}
}

// maxPageSize is the largest page the etcd3 store asks for when it grows
// its pages.
const maxPageSize = 10000

// expectedRangeRequests is the number of range requests a list makes to
// process processedObjects objects with pages of pageSize (0: no paging,
// one request). When a selector leaves pages short of the limit, the store
// doubles the page size for each next request, up to maxPageSize.
func expectedRangeRequests(pageSize, processedObjects uint64) uint64 {
	if pageSize == 0 {
		return 1
	}
	requests, read, page := uint64(1), pageSize, pageSize
	for read < processedObjects {
		page = min(2*page, maxPageSize)
		read += page
		requests++
	}
	return requests
}

// resourceKeys is the storage.KeysFunc that resource size estimation is
// enabled with: the etcd keys under the store's resource prefix.
func (h *harness) resourceKeys(ctx context.Context) ([]string, error) {
	response, err := h.client.KV.Get(ctx, pathPrefix+resourcePrefix[1:], clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(response.Kvs))
	for _, kv := range response.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys, nil
}

// prefixTransformerStore is the store with the hook through which the
// suite replaces its PrefixTransformer (storagetesting's
// InterfaceWithPrefixTransformer).
type prefixTransformerStore struct {
	storage.Interface
	harness *harness
}

// UpdatePrefixTransformer puts in use the transformer modifier makes from
// a copy of the store's PrefixTransformer, and returns the function that
// puts the previous one back.
func (s prefixTransformerStore) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	copied := *s.harness.prefixTransformer
	previous := s.harness.transformer.get()
	s.harness.transformer.set(modifier(&copied))
	return func() { s.harness.transformer.set(previous) }
}

// transformerOverrideStore is a store (the harness's, or a wrapper of it)
// with the hook through which the suite wraps its transformer
// (storagetesting's InterfaceWithTransformerOverride).
type transformerOverrideStore struct {
	storage.Interface
	harness *harness
}

// UpdateTransformer puts in use the transformer modifier makes from the
// one in use, and returns the function that puts that one back.
func (s transformerOverrideStore) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	previous := s.harness.transformer.get()
	s.harness.transformer.set(modifier(previous))
	return func() { s.harness.transformer.set(previous) }
}

// alwaysFailingTransformer fails every read with err.
type alwaysFailingTransformer struct {
	value.Transformer
	err error
}

func (f alwaysFailingTransformer) TransformFromStorage(context.Context, []byte, value.Context) ([]byte, bool, error) {
	return nil, false, f.err
}

// corruptObjectError returns the error the etcd3 store reports for an
// object whose stored data cannot be transformed (etcd3's own error type,
// which its corrupt-object handling recognizes), wrapping "bits flipped".
func corruptObjectError(t *testing.T) error {
	t.Helper()
	corrupting := etcd3.WithCorruptObjErrorHandlingTransformer(alwaysFailingTransformer{err: errors.New("bits flipped")})
	_, _, err := corrupting.TransformFromStorage(context.Background(), nil, value.DefaultContext(nil))
	if err == nil {
		t.Fatal("the corrupt-object transformer returned no error")
	}
	return err
}
