package suite

import (
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// setFeature sets a Kubernetes feature gate for the rest of the test (a
// gate read when the store is built must be set before newHarness).
func setFeature(t *testing.T, feature featuregate.Feature, enabled bool) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, feature, enabled)
}

// forEachRangeStream runs body as two subtests, RangeStream=false and
// RangeStream=true, with the EtcdRangeStream gate (the one that makes the
// etcd3 store list, and its watches sync, through etcd's RangeStream) set
// accordingly.
func forEachRangeStream(t *testing.T, body func(t *testing.T, rangeStream bool)) {
	for _, rangeStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("RangeStream=%v", rangeStream), func(t *testing.T) {
			setFeature(t, features.EtcdRangeStream, rangeStream)
			body(t, rangeStream)
		})
	}
}

// checkRangeStreamAtEnd checks, when the test ends (after its parallel
// subtests too), that the store read as the EtcdRangeStream gate says:
// with the gate on, through RangeStream (at least one stream) without
// ever falling back to paginated ranges, which the store does when the
// server answers RangeStream with Unimplemented; with the gate off, never
// through RangeStream. Kubernetes checks the same of RunTestList; here
// every RangeStream variant is checked, so that a variant passing on the
// fallback cannot pass for streaming.
func checkRangeStreamAtEnd(t *testing.T, h *harness, rangeStream bool) {
	t.Cleanup(func() {
		streams := h.reads.GetStreamReadsAndReset()
		if !rangeStream {
			if streams > 0 {
				t.Errorf("%d RangeStream requests with the EtcdRangeStream gate off", streams)
			}
			return
		}
		if !etcdfeature.DefaultFeatureSupportChecker.Supports(storage.RangeStream) {
			t.Errorf("the server answered RangeStream with Unimplemented: the store fell back to paginated ranges")
		} else if streams == 0 {
			t.Errorf("expected the store to read through RangeStream, it sent no RangeStream request")
		}
	})
}
