package suite

import (
	"context"
	"errors"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage/value"
)

// switchableTransformer is the transformer the store is built with. It
// delegates to a transformer that the suite's hooks may replace while the
// store runs (the store and its watcher both see the replacement), which
// is how the suite simulates a changed encryption configuration.
type switchableTransformer struct {
	current atomic.Pointer[transformerBox]
}

// transformerBox holds a transformer for atomic.Pointer.
type transformerBox struct{ value.Transformer }

func newSwitchableTransformer(initial value.Transformer) *switchableTransformer {
	s := &switchableTransformer{}
	s.set(initial)
	return s
}

// get returns the transformer in use.
func (s *switchableTransformer) get() value.Transformer { return s.current.Load().Transformer }

// set puts transformer in use.
func (s *switchableTransformer) set(transformer value.Transformer) {
	s.current.Store(&transformerBox{transformer})
}

func (s *switchableTransformer) TransformFromStorage(ctx context.Context, data []byte, dataContext value.Context) ([]byte, bool, error) {
	return s.get().TransformFromStorage(ctx, data, dataContext)
}

func (s *switchableTransformer) TransformToStorage(ctx context.Context, data []byte, dataContext value.Context) ([]byte, error) {
	return s.get().TransformToStorage(ctx, data, dataContext)
}

// errSynthetic is what the failing transformer and codec return.
var errSynthetic = errors.New("synthetic failure injected by the test")

// failableTransformer fails every read from storage while failing is set:
// data that can no longer be decrypted.
type failableTransformer struct {
	value.Transformer
	failing atomic.Bool
}

// setFailing turns the failure on or off.
func (f *failableTransformer) setFailing(failing bool) { f.failing.Store(failing) }

func (f *failableTransformer) TransformFromStorage(ctx context.Context, data []byte, dataContext value.Context) ([]byte, bool, error) {
	if f.failing.Load() {
		return nil, false, errSynthetic
	}
	return f.Transformer.TransformFromStorage(ctx, data, dataContext)
}

// failableCodec fails every decode while failing is set: data that no
// longer decodes.
type failableCodec struct {
	runtime.Codec
	failing atomic.Bool
}

// setFailing turns the failure on or off.
func (f *failableCodec) setFailing(failing bool) { f.failing.Store(failing) }

func (f *failableCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if f.failing.Load() {
		return nil, nil, errSynthetic
	}
	return f.Codec.Decode(data, defaults, into)
}
