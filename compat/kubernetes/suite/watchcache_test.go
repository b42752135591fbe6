package suite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/cacher"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// TestOptionalWatchBookmarksWithCorrectResourceVersion runs
// RunTestOptionalWatchBookmarksWithCorrectResourceVersion, which waits for
// bookmark events. The etcd3 store sends none of its own: the watch cache
// that kube-apiserver puts in front of it does. So the case runs, as
// Kubernetes runs it, through a watch cache over the store (fed by the
// store's list and watch of the cluster under test).
func TestOptionalWatchBookmarksWithCorrectResourceVersion(t *testing.T) {
	h := newHarness(t)
	storagetesting.RunTestOptionalWatchBookmarksWithCorrectResourceVersion(h.ctx, t, newWatchCache(t, h))
}

// newWatchCache returns kube-apiserver's watch cache (a cacher behind its
// delegator) over the harness's store, once it has loaded the store's
// current state, and stops it when the test ends.
func newWatchCache(t *testing.T, h *harness) storage.Interface {
	t.Helper()
	watchCache, err := cacher.NewCacherFromConfig(cacher.Config{
		Storage:             h.store,
		Versioner:           storage.APIObjectVersioner{},
		GroupResource:       podsResource,
		EventsHistoryWindow: cacher.DefaultEventFreshDuration,
		ResourcePrefix:      resourcePrefix,
		KeyFunc: func(object runtime.Object) (string, error) {
			return storage.NamespaceKeyFunc(resourcePrefix, object)
		},
		GetAttrsFunc: podAttributes,
		Indexers:     &cache.Indexers{},
		NewFunc:      newPod,
		NewListFunc:  newPodList,
		Codec:        h.codec,
		Clock:        clock.RealClock{},
	})
	if err != nil {
		t.Fatalf("starting the watch cache: %v", err)
	}
	t.Cleanup(watchCache.Stop)
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	if err := watchCache.Wait(ctx); err != nil {
		t.Fatalf("waiting for the watch cache to load: %v", err)
	}
	delegator := cacher.NewCacheDelegator(watchCache, h.store)
	t.Cleanup(delegator.Stop)
	return delegator
}

// podAttributes returns the labels and the selectable fields of a pod.
func podAttributes(object runtime.Object) (labels.Set, fields.Set, error) {
	pod, ok := object.(*example.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("%T is not a *example.Pod", object)
	}
	return labels.Set(pod.Labels), fields.Set{
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
		"spec.nodeName":      pod.Spec.NodeName,
	}, nil
}
