package kv

import (
	"context"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestLargeValuesGoToBlobFiles checks the value separation policy: after
// a flush, values of separatedValueMinimum bytes and more are in blob
// files and smaller ones are not; Defragment rewrites them inline, leaving
// no blob file, and every value reads back the same before and after.
func TestLargeValuesGoToBlobFiles(t *testing.T) {
	for _, c := range []struct {
		name      string
		size      int
		separated bool
	}{
		{"small values", separatedValueMinimum / 4, false},
		{"large values", 4 * separatedValueMinimum, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			value := make([]byte, c.size)
			for i := range value {
				value[i] = byte('a' + i%26)
			}
			for i := range 100 {
				h.put(fmt.Sprintf("key-%03d", i), string(value), 0)
			}
			database, err := h.store.acquire()
			if err != nil {
				t.Fatal(err)
			}
			defer database.release()
			if err := database.db.Flush(); err != nil {
				t.Fatal(err)
			}
			if blobs := database.db.Metrics().BlobFiles.LiveCount; (blobs > 0) != c.separated {
				t.Fatalf("%d blob files after a flush of 100 values of %d bytes; want values separated: %v", blobs, c.size, c.separated)
			}
			if err := h.store.Defragment(context.Background()); err != nil {
				t.Fatal(err)
			}
			if blobs := database.db.Metrics().BlobFiles.LiveCount; blobs != 0 {
				t.Errorf("%d blob files after Defragment, want none", blobs)
			}
			for i := range 100 {
				key := fmt.Sprintf("key-%03d", i)
				if got := h.get(&pb.RangeRequest{Key: []byte(key)}); len(got.Kvs) != 1 || string(got.Kvs[0].Value) != string(value) {
					t.Fatalf("%s after Defragment: %v", key, describe(got.Kvs))
				}
			}
		})
	}
}
