package suite

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"go.uber.org/zap"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/utils/clock"

	"github.com/lockstepdb/lockstep/compat/kubernetes/cluster"
)

// The suite stores example.Pod objects (the API group Kubernetes keeps for
// its storage tests), encoded as example/v1.
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

// newCodec returns the codec the store encodes objects with.
func newCodec() runtime.Codec {
	return apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
}

func newPod() runtime.Object     { return &example.Pod{} }
func newPodList() runtime.Object { return &example.PodList{} }

const (
	// storedValuePrefix is what the suite's PrefixTransformer puts before
	// every value it stores: the stand-in for encryption at rest.
	storedValuePrefix = "test!"
	// resourcePrefix is the store's resource prefix: the suite's keys are
	// /pods/NAMESPACE/NAME.
	resourcePrefix = "/pods/"
	// pathPrefix is the store's path prefix, before the resource prefix
	// (kube-apiserver's is /registry/; Kubernetes' tests use none).
	pathPrefix = "/"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// harnessOptions are the settings newHarness departs from.
type harnessOptions struct {
	endpoints []string
	codec     runtime.Codec
	// transformer, when set, replaces the PrefixTransformer at the bottom
	// of the store's transformer chain.
	transformer value.Transformer
}

// harnessOption changes harnessOptions.
type harnessOption func(*harnessOptions)

// withCodec makes the store encode and decode with codec.
func withCodec(codec runtime.Codec) harnessOption {
	return func(options *harnessOptions) { options.codec = codec }
}

// withTransformer makes the store transform values with transformer.
func withTransformer(transformer value.Transformer) harnessOption {
	return func(options *harnessOptions) { options.transformer = transformer }
}

// onProgressNotifyCluster puts the store on the cluster whose members send
// watch progress notifications every second, failing the test when that
// cluster could not be started.
func onProgressNotifyCluster(t *testing.T) harnessOption {
	t.Helper()
	if deployment.progressEndpoints == nil {
		t.Fatalf("needs a server sending progress notifications every second, as Kubernetes runs it: %s", deployment.progressUnavailable)
	}
	return func(options *harnessOptions) { options.endpoints = deployment.progressEndpoints }
}

// onFreshCluster puts the store on a cluster of its own, started for the
// test and stopped when it ends: for the cases that watch from the
// beginning of the cluster's history (resource version 1), which only a
// never-compacted cluster that never held their keys can replay.
func onFreshCluster(t *testing.T) harnessOption {
	t.Helper()
	if deployment.binary == "" {
		t.Fatalf("this case needs a cluster of its own, and no %s is given", cluster.EnvironmentBinary)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fresh, err := cluster.Start(ctx, cluster.Spec{Kind: deployment.system.Kind, Binary: deployment.binary, Members: deployment.system.Members, Directory: deployment.directory})
	if err != nil {
		t.Fatalf("starting a cluster for this case: %v", err)
	}
	ownClusters.add(fresh.Stop)
	t.Cleanup(fresh.Stop)
	return func(options *harnessOptions) { options.endpoints = fresh.Endpoints() }
}

// harness is one etcd3 store, as kube-apiserver builds it, over its own
// client of the cluster under test, with what the suite's hooks need.
type harness struct {
	ctx    context.Context
	client *kubernetes.Client
	// reads counts the store's range requests (unary and streamed);
	// lists records its list requests.
	reads *storagetesting.KVRecorder
	lists *storagetesting.KubernetesRecorder
	store storage.Interface
	codec runtime.Codec
	// transformer is the store's transformer: it delegates to
	// prefixTransformer (or the transformer option) until a hook swaps in
	// another.
	transformer       *switchableTransformer
	prefixTransformer *storagetesting.PrefixTransformer
}

// newHarness empties the cluster under test, then builds a store over a
// new client of it, and closes both when the test ends. All the tests of
// a run share one cluster; emptying it first gives each test what
// Kubernetes' own tests get from an etcd of their own: no keys and no
// leases (the revision goes on from the previous test's). Like a freshly
// started kube-apiserver, the store starts with a new etcd
// feature-support checker: it does not know yet whether the server
// implements RangeStream.
func newHarness(t *testing.T, options ...harnessOption) *harness {
	t.Helper()
	settings := harnessOptions{endpoints: deployment.endpoints, codec: newCodec()}
	for _, option := range options {
		option(&settings)
	}
	if len(settings.endpoints) == 0 {
		t.Fatal("no cluster endpoints: run through `go run .` or TestMain")
	}
	resetFeatureSupportChecker(t)

	client, err := kubernetes.New(clientv3.Config{
		Endpoints:   settings.endpoints,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("client of %v: %v", settings.endpoints, err)
	}
	t.Cleanup(func() { client.Close() })
	emptyCluster(t, client.Client)

	lists := storagetesting.NewKubernetesRecorder(client.Kubernetes)
	reads := storagetesting.NewKVRecorder(client.KV, lists)
	client.KV = reads
	client.Kubernetes = lists

	h := &harness{
		ctx:    context.Background(),
		client: client,
		reads:  reads,
		lists:  lists,
		codec:  settings.codec,
	}
	bottom := settings.transformer
	if bottom == nil {
		h.prefixTransformer = storagetesting.NewPrefixTransformer([]byte(storedValuePrefix), false)
		bottom = h.prefixTransformer
	}
	h.transformer = newSwitchableTransformer(bottom)

	// No periodic compaction (interval 0): the suite compacts through its
	// hook. The compactor still follows the compaction revision when
	// ListFromCacheSnapshot is on.
	compactor := etcd3.NewCompactor(client.Client, 0, clock.RealClock{}, nil)
	t.Cleanup(compactor.Stop)
	leaseConfig := etcd3.NewDefaultLeaseManagerConfig()
	// The suite's TTLs are of a second: reuse a lease for at most as long.
	leaseConfig.ReuseDurationSeconds = 1
	versioner := storage.APIObjectVersioner{}
	store, err := etcd3.New(client, compactor, settings.codec, newPod, newPodList,
		pathPrefix, resourcePrefix, podsResource, h.transformer, leaseConfig,
		etcd3.NewDefaultDecoder(settings.codec, versioner), versioner)
	if err != nil {
		t.Fatalf("etcd3.New: %v", err)
	}
	t.Cleanup(store.Close)
	h.store = store
	return h
}

// etcdKey returns the etcd key under which the store keeps key.
func (h *harness) etcdKey(t *testing.T, key string) string {
	t.Helper()
	prepared, err := storage.PrepareKey(resourcePrefix, key, false)
	if err != nil {
		t.Fatalf("key %q: %v", key, err)
	}
	// The store joins them so: its path prefix ends with a slash.
	return pathPrefix + strings.TrimPrefix(prepared, "/")
}

// resetFeatureSupportChecker gives the test a new etcd feature-support
// checker and puts the old one back when it ends.
func resetFeatureSupportChecker(t *testing.T) {
	previous := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = previous })
}

// emptyCluster revokes every lease of the cluster and deletes every key
// (only the suite uses the cluster), so that no key of an earlier test is
// listed and no lease of one expires during this test.
func emptyCluster(t *testing.T, client *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leases, err := client.Leases(ctx)
	if err != nil {
		t.Fatalf("emptying the cluster: listing leases: %v", err)
	}
	for _, lease := range leases.Leases {
		if _, err := client.Revoke(ctx, lease.ID); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			t.Fatalf("emptying the cluster: revoking lease %x: %v", lease.ID, err)
		}
	}
	if _, err := client.Delete(ctx, "\x00", clientv3.WithFromKey()); err != nil {
		t.Fatalf("emptying the cluster: deleting every key: %v", err)
	}
}
