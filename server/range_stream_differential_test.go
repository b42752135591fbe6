package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rangeStreamStep streams request and returns the chunks packed as the
// range responses of a TxnResponse, so that normalized renders them chunk
// by chunk with the headers' IDs and terms cleared. The chunks themselves
// are compared, not only their merge: etcd's chunk rule depends only on
// the data, the revisions and --max-request-bytes (1.5 MiB on both sides),
// all of which the two systems share here.
func rangeStreamStep(name string, request *pb.RangeRequest) step {
	return rangeStreamStepBack(name, request, 0)
}

// rangeStreamStepBack is rangeStreamStep at back revisions before the
// current one (0: the request's own revision).
func rangeStreamStepBack(name string, request *pb.RangeRequest, back int64) step {
	return step{"range stream " + name, func(ctx context.Context, kv pb.KVClient, _ pb.LeaseClient) (proto.Message, error) {
		request := proto.CloneOf(request)
		if back > 0 {
			probe, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("probe")})
			if err != nil {
				return nil, err
			}
			request.Revision = probe.Header.Revision - back
		}
		chunks, err := receiveChunks(ctx, kv, request)
		if err != nil {
			return nil, err
		}
		packed := &pb.TxnResponse{}
		for _, chunk := range chunks {
			packed.Responses = append(packed.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: chunk}})
		}
		return packed, nil
	}}
}

// rangeStreamSteps writes 300 small and 16 large key-values and streams
// them with each option, so that chunks grow (10, 20, 40, 80, 150) and
// shrink (10 values of 330 KiB are over twice 1.5 MiB: then 5).
func rangeStreamSteps() []step {
	var steps []step
	for i := range 300 {
		steps = append(steps, put(fmt.Sprintf("stream/small/%04d", i), fmt.Sprintf("%08d", i)))
	}
	for i := range 16 {
		steps = append(steps, put(fmt.Sprintf("stream/big/%02d", i), fmt.Sprintf("%02d", i)+strings.Repeat("v", 330<<10)))
	}
	small := func(change func(*pb.RangeRequest)) *pb.RangeRequest {
		request := &pb.RangeRequest{Key: []byte("stream/small/"), RangeEnd: []byte("stream/small0")}
		if change != nil {
			change(request)
		}
		return request
	}
	big := &pb.RangeRequest{Key: []byte("stream/big/"), RangeEnd: []byte("stream/big0")}
	bigKeysOnly := proto.CloneOf(big)
	bigKeysOnly.KeysOnly = true
	return append(steps,
		rangeStreamStep("small", small(nil)),
		rangeStreamStep("small limit 35", small(func(r *pb.RangeRequest) { r.Limit = 35 })),
		rangeStreamStep("small limit 30", small(func(r *pb.RangeRequest) { r.Limit = 30 })),
		rangeStreamStep("small limit 5", small(func(r *pb.RangeRequest) { r.Limit = 5 })),
		rangeStreamStep("small limit above count", small(func(r *pb.RangeRequest) { r.Limit = 1000 })),
		rangeStreamStep("small keys only", small(func(r *pb.RangeRequest) { r.KeysOnly = true })),
		rangeStreamStep("small count only", small(func(r *pb.RangeRequest) { r.CountOnly = true; r.Limit = 3 })),
		rangeStreamStep("small key ascending", small(func(r *pb.RangeRequest) {
			r.SortTarget, r.SortOrder = pb.RangeRequest_KEY, pb.RangeRequest_ASCEND
		})),
		rangeStreamStepBack("small in the past", small(nil), 166), // before the last 150 small keys
		rangeStreamStepBack("small in the past, limit 50", small(func(r *pb.RangeRequest) { r.Limit = 50 }), 166),
		rangeStreamStep("big", big),
		rangeStreamStep("big keys only", bigKeysOnly),
		rangeStreamStep("everything", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}),
		rangeStreamStep("from a key on", &pb.RangeRequest{Key: []byte("stream/small/0290"), RangeEnd: []byte{0}, Limit: 20}),
		rangeStreamStep("one key", &pb.RangeRequest{Key: []byte("stream/small/0007")}),
		rangeStreamStep("missing key", &pb.RangeRequest{Key: []byte("stream/missing")}),
		rangeStreamStep("end before key", &pb.RangeRequest{Key: []byte("stream/z"), RangeEnd: []byte("stream/a")}),
		rangeStreamStep("empty key", &pb.RangeRequest{}),
		rangeStreamStep("bad sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: 7}),
		rangeStreamStep("bad sort target", &pb.RangeRequest{Key: []byte("a"), SortTarget: 7}),
		rangeStreamStep("key descending", small(func(r *pb.RangeRequest) { r.SortOrder = pb.RangeRequest_DESCEND })),
		rangeStreamStep("mod ascending", small(func(r *pb.RangeRequest) {
			r.SortTarget, r.SortOrder = pb.RangeRequest_MOD, pb.RangeRequest_ASCEND
		})),
		rangeStreamStep("min mod revision", small(func(r *pb.RangeRequest) { r.MinModRevision = 2 })),
		rangeStreamStep("max create revision", small(func(r *pb.RangeRequest) { r.MaxCreateRevision = 2 })),
		rangeStreamStep("future revision", small(func(r *pb.RangeRequest) { r.Revision = 100000 })),
		rangeStreamStep("compacted revision", small(func(r *pb.RangeRequest) { r.Revision = 5 })),
	)
}

// TestRangeStreamDifferencesFromEtcd pins down, against a real etcd
// v3.7.3, the two places where lockstep's RangeStream answers otherwise
// (docs/compatibility.md), so that a change on either side shows:
//   - a sort target other than KEY with order NONE: etcd sorts each chunk
//     on its own and resumes after the chunk's last key in that order, so
//     its chunks repeat keys; lockstep refuses it as a custom sort order;
//   - a negative limit (none, as in Range): etcd sends everything in one
//     chunk, lockstep keeps chunking; the merged answers are equal.
func TestRangeStreamDifferencesFromEtcd(t *testing.T) {
	etcdEndpoint := startEtcd(t)
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	ctx := testContext(t)
	etcdKV, _ := etcdAPI(t, etcdEndpoint)
	lockstepKV, _ := etcdAPI(t, cluster.endpoint(0))
	waitForEtcd(ctx, t, etcdKV)
	// Values fall as keys rise: sorting by value reverses key order.
	for _, kv := range []pb.KVClient{etcdKV, lockstepKV} {
		for i := range 30 {
			if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("k/%02d", i)), Value: []byte(fmt.Sprintf("%02d", 99-i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	request := &pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0"), SortTarget: pb.RangeRequest_VALUE}
	etcdChunks, err := receiveChunks(ctx, etcdKV, request)
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	if merged := mergeChunks(etcdChunks); len(merged.Kvs) <= 30 {
		t.Errorf("etcd streamed %d key-values for 30 keys sorted by value with order NONE: has it stopped repeating keys? (then lockstep may accept such requests)", len(merged.Kvs))
	}
	if _, err := receiveChunks(ctx, lockstepKV, request); status.Code(err) != codes.Unimplemented {
		t.Errorf("lockstep: %v, want Unimplemented", err)
	}
	request = &pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0"), Limit: -1}
	etcdChunks, err = receiveChunks(ctx, etcdKV, request)
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	lockstepChunks, err := receiveChunks(ctx, lockstepKV, request)
	if err != nil {
		t.Fatalf("lockstep: %v", err)
	}
	if len(etcdChunks) != 1 || len(lockstepChunks) != 2 {
		t.Errorf("negative limit: etcd %d chunks (want 1), lockstep %d (want 2)", len(etcdChunks), len(lockstepChunks))
	}
	if want, got := normalized(mergeChunks(etcdChunks)), normalized(mergeChunks(lockstepChunks)); want != got {
		t.Errorf("negative limit:\netcd:     %s\nlockstep: %s", want, got)
	}
}
