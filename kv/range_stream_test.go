package kv

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// etcdTargetBytes is etcd's default --max-request-bytes, the size its
// stream chunks aim at.
const etcdTargetBytes = 1536 * 1024

// streamAll reads every chunk of a stream of request and fails the test on
// an error.
func (h *harness) streamAll(request *pb.RangeRequest, targetBytes int) []*pb.RangeResponse {
	h.t.Helper()
	stream, err := h.store.NewRangeStream(request, targetBytes)
	if err != nil {
		h.t.Fatalf("NewRangeStream: %v", err)
	}
	var chunks []*pb.RangeResponse
	for {
		chunk, err := stream.Next()
		if err == io.EOF {
			return chunks
		}
		if err != nil {
			h.t.Fatalf("Next after %d chunks: %v", len(chunks), err)
		}
		chunks = append(chunks, chunk)
		if len(chunks) > 100000 {
			h.t.Fatal("the stream does not end")
		}
	}
}

// merged is proto.Merge of every chunk, which etcd's contract says is the
// Range answer.
func merged(chunks []*pb.RangeResponse) *pb.RangeResponse {
	response := &pb.RangeResponse{}
	for _, chunk := range chunks {
		proto.Merge(response, chunk)
	}
	return response
}

// chunkSizes lists how many key-values each chunk holds.
func chunkSizes(chunks []*pb.RangeResponse) []int {
	sizes := make([]int, len(chunks))
	for i, chunk := range chunks {
		sizes[i] = len(chunk.Kvs)
	}
	return sizes
}

// checkPlacement fails the test unless only the last chunk has a header,
// more or count, and every chunk but the last (or an only one) has keys.
func checkPlacement(t *testing.T, chunks []*pb.RangeResponse) {
	t.Helper()
	if len(chunks) == 0 {
		t.Fatal("no chunk")
	}
	for i, chunk := range chunks[:len(chunks)-1] {
		if chunk.Header != nil || chunk.More || chunk.Count != 0 || len(chunk.Kvs) == 0 {
			t.Errorf("chunk %d of %d: header %v more %v count %d, %d keys", i, len(chunks), chunk.Header, chunk.More, chunk.Count, len(chunk.Kvs))
		}
	}
	if chunks[len(chunks)-1].Header == nil {
		t.Error("the last chunk has no header")
	}
}

// putMany writes count keys prefix/0000... with values of size bytes (the
// key's number, padded).
func (h *harness) putMany(prefix string, count, size int) {
	h.t.Helper()
	for i := range count {
		value := fmt.Sprintf("%04d", i)
		value += strings.Repeat("v", max(size-len(value), 0))
		h.put(fmt.Sprintf("%s/%04d", prefix, i), value, 0)
	}
}

// prefixRequest reads every key under prefix.
func prefixRequest(prefix string) *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte(prefix + "/"), RangeEnd: []byte(prefix + "0")}
}

// TestRangeStreamChunksDoubleAsEtcd checks etcd's growth rule on small
// key-values: 10 keys, then twice as many while chunks stay under half the
// target, and that the chunks merge into Range's answer with the header,
// more and count on the last chunk only.
func TestRangeStreamChunksDoubleAsEtcd(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("k", 300, 8)
	request := prefixRequest("k")
	chunks := h.streamAll(request, etcdTargetBytes)
	if got, want := fmt.Sprint(chunkSizes(chunks)), "[10 20 40 80 150]"; got != want {
		t.Errorf("chunk sizes %s, want %s", got, want)
	}
	checkPlacement(t, chunks)
	if got, want := merged(chunks), h.get(request); !proto.Equal(got, want) {
		t.Errorf("merged chunks differ from Range:\n%v\n%v", got.Header, want.Header)
	}
}

// TestRangeStreamChunksHalveOnLargeValues checks the other side of the
// rule: a chunk over twice the target halves the next one's limit, down
// to one key; one within [target/2, target*2] keeps it.
func TestRangeStreamChunksHalveOnLargeValues(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("big", 30, 1000)
	// 10 keys of ~1 KB are ~10 KB, over 2×4 KB: 5 keys, ~5 KB, within
	// [2 KB, 8 KB]: 5 keys until the end.
	chunks := h.streamAll(prefixRequest("big"), 4096)
	if got, want := fmt.Sprint(chunkSizes(chunks)), "[10 5 5 5 5]"; got != want {
		t.Errorf("chunk sizes %s, want %s", got, want)
	}
	checkPlacement(t, chunks)
	// A target far below one key-value: 10, 5, 2, 1, 1, ...
	chunks = h.streamAll(prefixRequest("big"), 100)
	if got, want := fmt.Sprint(chunkSizes(chunks)), "[10 5 2 1 1 1 1 1 1 1 1 1 1 1 1 1]"; got != want {
		t.Errorf("chunk sizes %s, want %s", got, want)
	}
	if got, want := merged(chunks), h.get(prefixRequest("big")); !proto.Equal(got, want) {
		t.Error("merged chunks differ from Range")
	}
}

// TestRangeStreamReadsOneRevision writes, deletes and compacts between
// chunks: the stream still answers the revision its first chunk fixed,
// and its header is the revision of that moment.
func TestRangeStreamReadsOneRevision(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("k", 100, 8)
	request := prefixRequest("k")
	before := h.get(request)
	stream, err := h.store.NewRangeStream(request, etcdTargetBytes)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Next()
	if err != nil {
		t.Fatal(err)
	}
	h.put("k/0050", "changed", 0) // not streamed yet
	h.put("k/0005", "changed", 0) // streamed already
	h.put("k/0099a", "new", 0)
	h.remove("k/0070", "k/0080")
	h.compact(before.Header.Revision) // at the stream's revision: still readable
	chunks := []*pb.RangeResponse{first}
	for {
		chunk, err := stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		chunks = append(chunks, chunk)
	}
	checkPlacement(t, chunks)
	if got := merged(chunks); !proto.Equal(got, before) {
		t.Errorf("the stream saw writes made while it ran: header %v count %d", got.Header, got.Count)
	}
}

// TestRangeStreamFailsWhenCompactedPastItsRevision checks etcd's answer to
// a compaction above the stream's revision while it runs: the next chunk
// fails with ErrGRPCCompacted, and the stream is over.
func TestRangeStreamFailsWhenCompactedPastItsRevision(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("k", 100, 8)
	stream, err := h.store.NewRangeStream(prefixRequest("k"), etcdTargetBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Next(); err != nil {
		t.Fatal(err)
	}
	response := h.put("other", "x", 0)
	h.compact(response.Header.Revision)
	if _, err := stream.Next(); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("Next after a compaction past the stream: %v, want %v", err, rpctypes.ErrGRPCCompacted)
	}
	if _, err := stream.Next(); err != io.EOF {
		t.Fatalf("Next after the failure: %v, want io.EOF", err)
	}
}

// TestRangeStreamLimit checks that a limit cuts the stream where Range
// cuts, with more and the whole count on the last chunk.
func TestRangeStreamLimit(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("k", 300, 8)
	cases := []struct {
		limit int64
		sizes string
	}{
		{35, "[10 20 5]"},
		{10, "[10]"},
		{3, "[3]"},
		{30, "[10 20]"},
		{300, "[10 20 40 80 150]"},
		{1000, "[10 20 40 80 150]"},
		{-1, "[10 20 40 80 150]"}, // none, as in Range
	}
	for _, c := range cases {
		request := prefixRequest("k")
		request.Limit = c.limit
		chunks := h.streamAll(request, etcdTargetBytes)
		if got := fmt.Sprint(chunkSizes(chunks)); got != c.sizes {
			t.Errorf("limit %d: chunk sizes %s, want %s", c.limit, got, c.sizes)
		}
		checkPlacement(t, chunks)
		if got, want := merged(chunks), h.get(request); !proto.Equal(got, want) {
			t.Errorf("limit %d: merged more %v count %d, Range more %v count %d", c.limit, got.More, got.Count, want.More, want.Count)
		}
	}
}

// TestRangeStreamOptions checks single chunks against Range for the other
// options: single keys, empty intervals, keys only, count only, past
// revisions, zero bytes in keys.
func TestRangeStreamOptions(t *testing.T) {
	h := rangeFixture(t) // a=3 b=1 c=2 b=4 d=0, revisions 2 to 6
	h.grant(7, 100)
	h.put("leased", "v", 7)
	h.put("x\x00", "z", 0)
	h.put("x\x00\x00", "z", 0)
	cases := []struct {
		name    string
		request *pb.RangeRequest
	}{
		{"single key", &pb.RangeRequest{Key: []byte("b")}},
		{"missing key", &pb.RangeRequest{Key: []byte("bb")}},
		{"end before key", &pb.RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}},
		{"from key on", &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}},
		{"everything", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}},
		{"keys only (no values, no leases)", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, KeysOnly: true}},
		{"count only", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true}},
		{"count only ignores the limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true, Limit: 1}},
		{"past revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 3}},
		{"past revision with limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 5, Limit: 1}},
		{"past revision count only", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 4, CountOnly: true}},
		{"key ascending is key order", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_ASCEND}},
		{"zero bytes", &pb.RangeRequest{Key: []byte("x"), RangeEnd: []byte("y"), Limit: 2}},
		{"negative revision is the current one", &pb.RangeRequest{Key: []byte("a"), Revision: -3}},
	}
	for _, c := range cases {
		chunks := h.streamAll(c.request, etcdTargetBytes)
		if len(chunks) != 1 {
			t.Errorf("%s: %d chunks, want 1", c.name, len(chunks))
		}
		if got, want := merged(chunks), h.get(c.request); !proto.Equal(got, want) {
			t.Errorf("%s:\nstream %v\nrange  %v", c.name, got, want)
		}
	}
}

// TestRangeStreamRandomized compares merged streams with Range over random
// histories (puts, deletes, keys with zero bytes) and random requests,
// with chunk targets from one key to many.
func TestRangeStreamRandomized(t *testing.T) {
	random := rand.New(rand.NewPCG(13, 3))
	keys := []string{"a", "a\x00", "a\x00\x00", "a\x01", "b", "ba", "bb", "c", "c\xff", "d"}
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	h := newHarness(t, Options{})
	for range 400 {
		key := keys[random.IntN(len(keys))]
		if random.IntN(5) == 0 {
			end := ""
			if random.IntN(2) == 0 {
				end = keys[random.IntN(len(keys))]
			}
			if end == "" || end > key {
				h.remove(key, end)
				continue
			}
		}
		h.put(key, strings.Repeat("v", random.IntN(300)), 0)
	}
	current := h.get(&pb.RangeRequest{Key: []byte("a")}).Header.Revision
	h.compact(current / 4)
	for i := range 300 {
		request := &pb.RangeRequest{Key: []byte(keys[random.IntN(len(keys))])}
		switch random.IntN(4) {
		case 0: // a single key
		case 1:
			request.RangeEnd = []byte{0}
		default:
			request.RangeEnd = []byte(keys[random.IntN(len(keys))])
		}
		if random.IntN(3) == 0 {
			request.Limit = random.Int64N(30) - 2
		}
		if random.IntN(3) == 0 {
			request.Revision = current/4 + random.Int64N(current-current/4+1)
		}
		request.KeysOnly = random.IntN(4) == 0
		request.CountOnly = random.IntN(8) == 0
		targetBytes := []int{1, 200, 2000, etcdTargetBytes}[random.IntN(4)]
		chunks := h.streamAll(request, targetBytes)
		checkPlacement(t, chunks)
		if got, want := merged(chunks), h.get(request); !proto.Equal(got, want) {
			t.Fatalf("request %d %v, target %d:\nstream %v\nrange  %v", i, request, targetBytes, got, want)
		}
	}
}

// TestRangeStreamRefusals checks etcd's refusals: Range's, the options a
// stream cannot serve without reading everything first (refused before any
// read), and the revision checks on the first chunk.
func TestRangeStreamRefusals(t *testing.T) {
	h := rangeFixture(t)
	h.compact(4)
	refused := []struct {
		name    string
		request *pb.RangeRequest
		want    error
	}{
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"bad sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}, rpctypes.ErrGRPCInvalidSortOption},
		{"bad sort target", &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, rpctypes.ErrGRPCInvalidSortOption},
		{"key descending", &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_DESCEND}, ErrGRPCStreamSortOrder},
		{"mod ascending", &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_ASCEND}, ErrGRPCStreamSortOrder},
		{"value with order NONE (Range sorts it)", &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_VALUE}, ErrGRPCStreamSortOrder},
		{"min mod revision", &pb.RangeRequest{Key: []byte("a"), MinModRevision: 1}, ErrGRPCStreamRevisionFilters},
		{"max mod revision", &pb.RangeRequest{Key: []byte("a"), MaxModRevision: 1}, ErrGRPCStreamRevisionFilters},
		{"min create revision", &pb.RangeRequest{Key: []byte("a"), MinCreateRevision: 1}, ErrGRPCStreamRevisionFilters},
		{"max create revision", &pb.RangeRequest{Key: []byte("a"), MaxCreateRevision: 1}, ErrGRPCStreamRevisionFilters},
	}
	for _, c := range refused {
		if _, err := h.store.NewRangeStream(c.request, etcdTargetBytes); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	failing := []struct {
		name    string
		request *pb.RangeRequest
		want    error
	}{
		{"future revision", &pb.RangeRequest{Key: []byte("a"), Revision: 8}, rpctypes.ErrGRPCFutureRev},
		{"compacted revision", &pb.RangeRequest{Key: []byte("a"), Revision: 3}, rpctypes.ErrGRPCCompacted},
		{"count only at a future revision", &pb.RangeRequest{Key: []byte("a"), Revision: 8, CountOnly: true}, rpctypes.ErrGRPCFutureRev},
		{"count only at a compacted revision", &pb.RangeRequest{Key: []byte("a"), Revision: 3, CountOnly: true}, rpctypes.ErrGRPCCompacted},
	}
	for _, c := range failing {
		stream, err := h.store.NewRangeStream(c.request, etcdTargetBytes)
		if err != nil {
			t.Fatalf("%s: NewRangeStream: %v", c.name, err)
		}
		if _, err := stream.Next(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if _, err := stream.Next(); err != io.EOF {
			t.Errorf("%s: Next after the failure: %v, want io.EOF", c.name, err)
		}
	}
}

// TestCollectStopsAtLimit checks that a stream chunk's read stops at its
// limit, in the current table and in the history, so a chunk costs its
// size and not the whole interval's: the count covers only what was read.
func TestCollectStopsAtLimit(t *testing.T) {
	h := newHarness(t, Options{})
	h.putMany("k", 50, 8)
	h.remove("k/0003", "")
	view, err := h.store.openView()
	if err != nil {
		t.Fatal(err)
	}
	defer view.close()
	current := view.state.revision
	for _, revision := range []int64{current, current - 1} {
		options := collectOptions{limit: 7, stopAtLimit: true, withValues: true}
		result, err := collectKeys(view.snapshot, []byte("k/"), []byte("k0"), revision, current, options)
		if err != nil {
			t.Fatal(err)
		}
		if len(result.keyValues) != 7 || result.count != 7 {
			t.Errorf("revision %d: %d key-values, count %d, want 7 and 7", revision, len(result.keyValues), result.count)
		}
		options.stopAtLimit = false
		result, err = collectKeys(view.snapshot, []byte("k/"), []byte("k0"), revision, current, options)
		if err != nil {
			t.Fatal(err)
		}
		if wantCount := map[bool]int64{true: 49, false: 50}[revision == current]; len(result.keyValues) != 7 || result.count != wantCount {
			t.Errorf("revision %d without stop: %d key-values, count %d, want 7 and %d", revision, len(result.keyValues), result.count, wantCount)
		}
	}
}
