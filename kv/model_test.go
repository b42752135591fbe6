package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// The model is a deliberately naive reference: every version of every key
// in a list, reads by scanning. The randomized test applies the same
// commands to it and to the store and compares every response, every read
// at every revision, and every watch event.

// modelEntry is one version of a key; kv nil is a deletion.
type modelEntry struct {
	revision int64
	kv       *mvccpb.KeyValue
}

type model struct {
	revision  int64
	compacted int64
	history   map[string][]modelEntry
	leases    map[int64]bool
	events    []*mvccpb.Event
}

func newModel() *model {
	return &model{revision: 1, compacted: -1, history: map[string][]modelEntry{}, leases: map[int64]bool{}}
}

// at returns the version of key at revision, nil if absent.
func (m *model) at(key string, revision int64) *mvccpb.KeyValue {
	var found *mvccpb.KeyValue
	for _, entry := range m.history[key] {
		if entry.revision <= revision {
			found = entry.kv
		}
	}
	return found
}

// modelWrite is one write transaction on the model.
type modelWrite struct {
	m       *model
	begin   int64
	pending map[string]*mvccpb.KeyValue
	touched []string
	events  []*mvccpb.Event
}

func (m *model) write() *modelWrite {
	return &modelWrite{m: m, begin: m.revision, pending: map[string]*mvccpb.KeyValue{}}
}

func (w *modelWrite) revision() int64 {
	if len(w.events) > 0 {
		return w.begin + 1
	}
	return w.begin
}

func (w *modelWrite) get(key string) *mvccpb.KeyValue {
	if kv, ok := w.pending[key]; ok {
		return kv
	}
	return w.m.at(key, w.begin)
}

func (w *modelWrite) set(key string, kv *mvccpb.KeyValue, event *mvccpb.Event) {
	if _, ok := w.pending[key]; !ok {
		w.touched = append(w.touched, key)
	}
	event.PrevKv = w.m.at(key, w.begin)
	w.pending[key] = kv
	w.events = append(w.events, event)
}

func (w *modelWrite) put(request *pb.PutRequest) *pb.PutResponse {
	key := string(request.Key)
	previous := w.get(key)
	kv := &mvccpb.KeyValue{Key: request.Key, Value: request.Value, CreateRevision: w.begin + 1, ModRevision: w.begin + 1, Version: 1, Lease: request.Lease}
	if previous != nil {
		kv.CreateRevision, kv.Version = previous.CreateRevision, previous.Version+1
		if request.IgnoreValue {
			kv.Value = previous.Value
		}
		if request.IgnoreLease {
			kv.Lease = previous.Lease
		}
	}
	w.set(key, kv, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv})
	response := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: w.begin + 1}}
	if request.PrevKv {
		response.PrevKv = previous
	}
	return response
}

func (w *modelWrite) keysIn(key, end []byte) []string {
	var keys []string
	names := map[string]bool{}
	for name := range w.m.history {
		names[name] = true
	}
	for name := range w.pending {
		names[name] = true
	}
	for name := range names {
		if inInterval([]byte(name), key, end) && w.get(name) != nil {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

func inInterval(name, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(name, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(name, key) >= 0
	}
	return bytes.Compare(name, key) >= 0 && bytes.Compare(name, end) < 0
}

func (w *modelWrite) deleteRange(request *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	response := &pb.DeleteRangeResponse{}
	for _, key := range w.keysIn(request.Key, request.RangeEnd) {
		if request.PrevKv {
			response.PrevKvs = append(response.PrevKvs, w.get(key))
		}
		w.set(key, nil, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: w.begin + 1}})
		response.Deleted++
	}
	response.Header = &pb.ResponseHeader{Revision: w.revision()}
	return response
}

func (w *modelWrite) commit() {
	if len(w.events) == 0 {
		return
	}
	w.m.revision++
	for _, key := range w.touched {
		w.m.history[key] = append(w.m.history[key], modelEntry{revision: w.m.revision, kv: w.pending[key]})
	}
	w.m.events = append(w.m.events, w.events...)
}

// rangeAt answers a range on the write's view (the current state when
// the write is empty).
func (w *modelWrite) rangeAt(request *pb.RangeRequest) (*pb.RangeResponse, error) {
	current := w.revision()
	switch {
	case request.Revision > current:
		return nil, rpctypes.ErrGRPCFutureRev
	case request.Revision > 0 && request.Revision < w.m.compacted:
		return nil, rpctypes.ErrGRPCCompacted
	}
	var keyValues []*mvccpb.KeyValue
	if request.Revision <= 0 || request.Revision == current {
		for _, key := range w.keysIn(request.Key, request.RangeEnd) {
			keyValues = append(keyValues, proto.Clone(w.get(key)).(*mvccpb.KeyValue))
		}
	} else {
		var names []string
		for name := range w.m.history {
			if inInterval([]byte(name), request.Key, request.RangeEnd) && w.m.at(name, request.Revision) != nil {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			keyValues = append(keyValues, proto.Clone(w.m.at(name, request.Revision)).(*mvccpb.KeyValue))
		}
	}
	response := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: current}, Count: int64(len(keyValues))}
	if request.CountOnly {
		return response, nil
	}
	keyValues = slices.DeleteFunc(keyValues, func(kv *mvccpb.KeyValue) bool {
		return (request.MinModRevision != 0 && kv.ModRevision < request.MinModRevision) ||
			(request.MaxModRevision != 0 && kv.ModRevision > request.MaxModRevision) ||
			(request.MinCreateRevision != 0 && kv.CreateRevision < request.MinCreateRevision) ||
			(request.MaxCreateRevision != 0 && kv.CreateRevision > request.MaxCreateRevision)
	})
	order := request.SortOrder
	if order == pb.RangeRequest_NONE && request.SortTarget != pb.RangeRequest_KEY {
		// etcd's quirk: with order NONE it reads only limit+1 keys (in
		// key order) before it sorts them ascending.
		filtered := request.MinModRevision != 0 || request.MaxModRevision != 0 || request.MinCreateRevision != 0 || request.MaxCreateRevision != 0
		if request.Limit > 0 && !filtered && int64(len(keyValues)) > request.Limit+1 {
			keyValues = keyValues[:request.Limit+1]
		}
		order = pb.RangeRequest_ASCEND
	}
	if order != pb.RangeRequest_NONE {
		sort.SliceStable(keyValues, func(i, j int) bool {
			a, b := sortValue(keyValues[i], request.SortTarget), sortValue(keyValues[j], request.SortTarget)
			if order == pb.RangeRequest_DESCEND {
				return a > b
			}
			return a < b
		})
	}
	if request.Limit > 0 && int64(len(keyValues)) > request.Limit {
		keyValues, response.More = keyValues[:request.Limit], true
	}
	for _, kv := range keyValues {
		if request.KeysOnly {
			kv.Value = nil
			if request.SortTarget != pb.RangeRequest_VALUE {
				kv.Lease = 0 // etcd's keys-only reads come from its index
			}
		}
	}
	response.Kvs = keyValues
	return response, nil
}

// sortValue is a key-value's sort key for a target, as a string that
// orders as the target does (numbers are non-negative here).
func sortValue(kv *mvccpb.KeyValue, target pb.RangeRequest_SortTarget) string {
	switch target {
	case pb.RangeRequest_VERSION:
		return fmt.Sprintf("%020d", kv.Version)
	case pb.RangeRequest_CREATE:
		return fmt.Sprintf("%020d", kv.CreateRevision)
	case pb.RangeRequest_MOD:
		return fmt.Sprintf("%020d", kv.ModRevision)
	case pb.RangeRequest_VALUE:
		return string(kv.Value)
	}
	return string(kv.Key)
}

// compare evaluates a compare on the state before the write.
func (w *modelWrite) compare(compare *pb.Compare) bool {
	keys := w.m.write().keysIn(compare.Key, compare.RangeEnd)
	if len(keys) == 0 {
		if compare.Target == pb.Compare_VALUE {
			return false
		}
		return compareKeyValueModel(compare, &mvccpb.KeyValue{})
	}
	for _, key := range keys {
		if !compareKeyValueModel(compare, w.m.at(key, w.begin)) {
			return false
		}
	}
	return true
}

func compareKeyValueModel(compare *pb.Compare, kv *mvccpb.KeyValue) bool {
	var have, want int64
	switch compare.Target {
	case pb.Compare_VALUE:
		have, want = int64(bytes.Compare(kv.Value, compare.GetValue())), 0
	case pb.Compare_VERSION:
		have, want = kv.Version, compare.GetVersion()
	case pb.Compare_CREATE:
		have, want = kv.CreateRevision, compare.GetCreateRevision()
	case pb.Compare_MOD:
		have, want = kv.ModRevision, compare.GetModRevision()
	case pb.Compare_LEASE:
		have, want = kv.Lease, compare.GetLease()
	}
	switch compare.Result {
	case pb.Compare_EQUAL:
		return have == want
	case pb.Compare_NOT_EQUAL:
		return have != want
	case pb.Compare_GREATER:
		return have > want
	}
	return have < want
}

// branch evaluates a Txn's compares and returns the branch it takes.
func (w *modelWrite) branch(request *pb.TxnRequest) (bool, []*pb.RequestOp) {
	succeeded := true
	for _, compare := range request.Compare {
		succeeded = succeeded && w.compare(compare)
	}
	if succeeded {
		return true, request.Success
	}
	return false, request.Failure
}

// txn runs a Txn on the write: compares on the state before, nested ones
// too, then the branch. Errors from checks are found before any write.
func (w *modelWrite) txn(request *pb.TxnRequest) *pb.TxnResponse {
	succeeded, operations := w.branch(request)
	response := &pb.TxnResponse{Succeeded: succeeded}
	for _, operation := range operations {
		result := &pb.ResponseOp{}
		switch {
		case operation.GetRequestRange() != nil:
			rangeResponse, _ := w.rangeAt(operation.GetRequestRange())
			result.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rangeResponse}
		case operation.GetRequestPut() != nil:
			result.Response = &pb.ResponseOp_ResponsePut{ResponsePut: w.put(operation.GetRequestPut())}
		case operation.GetRequestDeleteRange() != nil:
			result.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: w.deleteRange(operation.GetRequestDeleteRange())}
		case operation.GetRequestTxn() != nil:
			nested := w.txn(operation.GetRequestTxn())
			nested.Header = &pb.ResponseHeader{}
			result.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: nested}
		}
		response.Responses = append(response.Responses, result)
	}
	return response
}

// apply applies one request to the model and returns what the store must
// answer.
func (m *model) apply(request *pb.InternalRaftRequest) any {
	header := func() *pb.ResponseHeader { return &pb.ResponseHeader{Revision: m.revision} }
	switch {
	case request.Put != nil:
		put := request.Put
		previous := m.at(string(put.Key), m.revision)
		switch {
		case put.Lease != 0 && !m.leases[put.Lease]:
			return rpctypes.ErrGRPCLeaseNotFound
		case (put.IgnoreValue || put.IgnoreLease) && previous == nil:
			return rpctypes.ErrGRPCKeyNotFound
		}
		write := m.write()
		response := write.put(put)
		write.commit()
		return response
	case request.DeleteRange != nil:
		write := m.write()
		response := write.deleteRange(request.DeleteRange)
		write.commit()
		return response
	case request.Txn != nil:
		if err := m.checkTxn(request.Txn); err != nil {
			return err
		}
		write := m.write()
		response := write.txn(request.Txn)
		write.commit()
		response.Header = header()
		return response
	case request.Compaction != nil:
		switch revision := request.Compaction.Revision; {
		case revision <= m.compacted:
			return rpctypes.ErrGRPCCompacted
		case revision > m.revision:
			return rpctypes.ErrGRPCFutureRev
		default:
			m.compacted = revision
		}
		return &pb.CompactionResponse{Header: header()}
	case request.LeaseGrant != nil:
		grant := request.LeaseGrant
		if m.leases[grant.ID] {
			return rpctypes.ErrGRPCLeaseExist
		}
		m.leases[grant.ID] = true
		return &pb.LeaseGrantResponse{Header: header(), ID: grant.ID, TTL: grant.TTL}
	case request.LeaseRevoke != nil:
		id := request.LeaseRevoke.ID
		if !m.leases[id] {
			return rpctypes.ErrGRPCLeaseNotFound
		}
		write := m.write()
		for _, key := range write.keysIn([]byte{0}, []byte{0}) {
			if write.get(key).Lease == id {
				write.deleteRange(&pb.DeleteRangeRequest{Key: []byte(key)})
			}
		}
		write.commit()
		delete(m.leases, id)
		return &pb.LeaseRevokeResponse{Header: header()}
	}
	panic("model: unexpected request")
}

// checkTxn finds the errors of a Txn's branches taken, as the store's
// checks do, on the state before it.
func (m *model) checkTxn(request *pb.TxnRequest) error {
	_, operations := m.write().branch(request)
	for _, operation := range operations {
		if put := operation.GetRequestPut(); put != nil {
			if put.Lease != 0 && !m.leases[put.Lease] {
				return rpctypes.ErrGRPCLeaseNotFound
			}
			if (put.IgnoreValue || put.IgnoreLease) && m.at(string(put.Key), m.revision) == nil {
				return rpctypes.ErrGRPCKeyNotFound
			}
		}
		if nested := operation.GetRequestTxn(); nested != nil {
			if err := m.checkTxn(nested); err != nil {
				return err
			}
		}
	}
	return nil
}

// generator makes random requests over a small key space, so that keys
// collide often.
type generator struct {
	random *rand.Rand
	model  *model
	lease  int64
}

var modelKeys = []string{"a", "a/1", "a/2", "a/3", "b", "b/1", "c", "c\x00", "d", "e/1", "e/2", "f"}

func (g *generator) key() []byte { return []byte(modelKeys[g.random.IntN(len(modelKeys))]) }

// interval returns a key and range end: one key, an interval, a prefix or
// everything from the key on.
func (g *generator) interval() ([]byte, []byte) {
	key := g.key()
	switch g.random.IntN(4) {
	case 0:
		return key, nil
	case 1:
		return key, []byte{0}
	case 2:
		return key, nextPrefix(key)
	}
	end := g.key()
	if bytes.Compare(end, key) < 0 {
		key, end = end, key
	}
	return key, end
}

func (g *generator) leaseID() int64 {
	if g.random.IntN(3) == 0 || g.lease == 0 {
		return 0
	}
	return 1 + g.random.Int64N(g.lease+1) // sometimes one not granted yet
}

func (g *generator) put(key []byte) *pb.PutRequest {
	put := &pb.PutRequest{Key: key, Value: fmt.Appendf(nil, "v%d", g.random.IntN(50)), Lease: g.leaseID(), PrevKv: g.random.IntN(2) == 0}
	if g.random.IntN(6) == 0 {
		put.Value, put.IgnoreValue = nil, true
	}
	if g.random.IntN(6) == 0 {
		put.Lease, put.IgnoreLease = 0, true
	}
	return put
}

func (g *generator) rangeRequest(revisions bool) *pb.RangeRequest {
	key, end := g.interval()
	request := &pb.RangeRequest{Key: key, RangeEnd: end}
	if g.random.IntN(3) == 0 {
		request.Limit = g.random.Int64N(4)
	}
	if g.random.IntN(3) == 0 {
		request.SortTarget = pb.RangeRequest_SortTarget(g.random.IntN(5))
		request.SortOrder = pb.RangeRequest_SortOrder(g.random.IntN(3))
	}
	request.KeysOnly = g.random.IntN(5) == 0
	request.CountOnly = g.random.IntN(8) == 0
	if g.random.IntN(4) == 0 {
		request.MinModRevision = g.random.Int64N(g.model.revision + 1)
		request.MaxCreateRevision = g.random.Int64N(g.model.revision + 2)
	}
	if revisions && g.random.IntN(2) == 0 {
		request.Revision = g.model.compacted - 1 + g.random.Int64N(g.model.revision-g.model.compacted+3)
	}
	return request
}

// txn builds a Txn whose writes touch distinct keys (the store refuses
// duplicates; that rule has its own tests), possibly with a nested Txn.
func (g *generator) txn(unused []string, depth int) *pb.TxnRequest {
	request := &pb.TxnRequest{}
	for range g.random.IntN(3) {
		key, end := g.interval()
		compare := &pb.Compare{Key: key, RangeEnd: end, Target: pb.Compare_CompareTarget(g.random.IntN(5)), Result: pb.Compare_CompareResult(g.random.IntN(4))}
		switch compare.Target {
		case pb.Compare_VALUE:
			compare.TargetUnion = &pb.Compare_Value{Value: fmt.Appendf(nil, "v%d", g.random.IntN(50))}
		case pb.Compare_VERSION:
			compare.TargetUnion = &pb.Compare_Version{Version: g.random.Int64N(4)}
		case pb.Compare_CREATE:
			compare.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: g.random.Int64N(g.model.revision + 1)}
		case pb.Compare_MOD:
			compare.TargetUnion = &pb.Compare_ModRevision{ModRevision: g.random.Int64N(g.model.revision + 1)}
		case pb.Compare_LEASE:
			compare.TargetUnion = &pb.Compare_Lease{Lease: g.random.Int64N(3)}
		}
		request.Compare = append(request.Compare, compare)
	}
	for _, branch := range []*[]*pb.RequestOp{&request.Success, &request.Failure} {
		for range g.random.IntN(4) {
			switch choice := g.random.IntN(5); {
			case choice == 0:
				*branch = append(*branch, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: g.rangeRequest(false)}})
			case choice == 1 && depth == 0:
				*branch = append(*branch, opTxn(g.txn(unused, depth+1)))
			case len(unused) > 0:
				index := g.random.IntN(len(unused))
				key := []byte(unused[index])
				unused = slices.Delete(slices.Clone(unused), index, index+1)
				if choice == 2 {
					*branch = append(*branch, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: key, PrevKv: g.random.IntN(2) == 0}}})
				} else {
					*branch = append(*branch, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: g.put(key)}})
				}
			}
		}
	}
	return request
}

// request returns the next random request.
func (g *generator) request() *pb.InternalRaftRequest {
	switch choice := g.random.IntN(20); {
	case choice < 8:
		return &pb.InternalRaftRequest{Put: g.put(g.key())}
	case choice < 11:
		key, end := g.interval()
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: g.random.IntN(2) == 0}}
	case choice < 16:
		return &pb.InternalRaftRequest{Txn: g.txn(slices.Clone(modelKeys), 0)}
	case choice < 17:
		return &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: g.model.compacted + g.random.Int64N(max(1, (g.model.revision-g.model.compacted)/3)+1)}}
	case choice < 19:
		g.lease++
		return &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: g.lease, TTL: 10}}
	}
	return &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1 + g.random.Int64N(g.lease+1)}}
}

// checkRange compares a store range response with the model's; for
// orders other than by key, ties may come in any order, so it compares the
// sequence of sort values and that each key-value is the model's.
func checkRange(t *testing.T, what string, request *pb.RangeRequest, got, want *pb.RangeResponse, model *modelWrite) {
	t.Helper()
	if got.Header.GetRevision() != want.Header.Revision || got.Count != want.Count || got.More != want.More || len(got.Kvs) != len(want.Kvs) {
		t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, want)
	}
	ordered := request.SortOrder == pb.RangeRequest_NONE || request.SortTarget == pb.RangeRequest_KEY
	for i := range got.Kvs {
		if ordered {
			if !proto.Equal(got.Kvs[i], want.Kvs[i]) {
				t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, want)
			}
			continue
		}
		if sortValue(got.Kvs[i], request.SortTarget) != sortValue(want.Kvs[i], request.SortTarget) {
			t.Fatalf("%s: %v: sort order differs\n got  %v\n want %v", what, request, got, want)
		}
	}
	_ = model
}

// TestModelRandomized applies seeded random commands to the store and the
// model and compares everything. More seeds: -run TestModelRandomized
// with LOCKSTEP_KV_MODEL_SEEDS (see modelSeeds).
func TestModelRandomized(t *testing.T) {
	for _, seed := range modelSeeds(t) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, 400, modelVariant{}) })
	}
}

// TestModelRandomizedPreviousValuesUnread runs the model test with puts
// and deletes that read no previous value as they apply (as when no
// watcher wants previous key-values: the watcher of everything registers
// unseen by Apply, as one that registers during an Apply call is), so
// that publish reads every previous value from the history, and with an
// index of current versions that holds every key, three keys, or none.
func TestModelRandomizedPreviousValuesUnread(t *testing.T) {
	for _, indexKeys := range []int{0, 3, -1} {
		for _, seed := range modelSeeds(t) {
			t.Run(fmt.Sprint("index", indexKeys, "/seed", seed), func(t *testing.T) {
				runModel(t, seed, 400, modelVariant{indexKeys: indexKeys, previousUnseen: true})
			})
		}
	}
}

// modelVariant sets how runModel's store runs.
type modelVariant struct {
	indexKeys      int  // Options.CurrentIndexKeys
	previousUnseen bool // Apply does not see the prev_kv watcher
}

func runModel(t *testing.T, seed uint64, steps int, variant modelVariant) {
	random := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := newHarness(t, Options{WatchBufferSize: 2, CurrentIndexKeys: variant.indexKeys})
	m := newModel()
	g := &generator{random: random, model: m}
	everything := mustWatch(t, h.store, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, PrevKV: true})
	if variant.previousUnseen {
		h.store.watches.previousWanted.Add(-1)
		t.Cleanup(func() { h.store.watches.previousWanted.Add(1) })
	}
	var watched []*mvccpb.Event
	for step := 0; step < steps; {
		count := 1 + random.IntN(4)
		var requests []*pb.InternalRaftRequest
		var expected []any
		for range count {
			request := g.request()
			requests = append(requests, request)
			if err := ValidateRequest(request, 0); err != nil {
				expected = append(expected, err)
				continue
			}
			expected = append(expected, m.apply(request))
		}
		results := h.apply(requests...)
		for i, result := range results {
			checkResult(t, fmt.Sprintf("seed %d step %d", seed, step+i), requests[i], result, expected[i])
		}
		step += count
		for drained := false; !drained; {
			select {
			case response := <-everything.Responses():
				watched = append(watched, response.Events...)
			default:
				drained = true
			}
		}
		if step%25 < count {
			checkHistory(t, h.store, m, g)
		}
	}
	checkHistory(t, h.store, m, g)
	for len(watched) < len(m.events) {
		watched = append(watched, receive(t, everything).Events...)
	}
	for i := range m.events {
		if i >= len(watched) || !proto.Equal(watched[i], m.events[i]) {
			t.Fatalf("seed %d: watch event %d:\n got  %v\n want %v", seed, i, watched[min(i, len(watched)-1)], m.events[i])
		}
	}
	if len(watched) != len(m.events) {
		t.Fatalf("seed %d: %d watch events, model made %d", seed, len(watched), len(m.events))
	}
}

// checkResult compares one store result with the model's.
func checkResult(t *testing.T, what string, request *pb.InternalRaftRequest, got machine.Result, want any) {
	t.Helper()
	if wantError, isError := want.(error); isError {
		if err, _ := got.(error); !errors.Is(err, wantError) {
			t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, wantError)
		}
		return
	}
	message, ok := got.(proto.Message)
	if !ok {
		t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, want)
	}
	if txn, isTxn := message.(*pb.TxnResponse); isTxn {
		checkTxnResponse(t, what, request.Txn, txn, want.(*pb.TxnResponse))
		return
	}
	if !proto.Equal(message, want.(proto.Message)) {
		t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, want)
	}
}

// checkTxnResponse compares Txn responses, ranges with checkRange.
func checkTxnResponse(t *testing.T, what string, request *pb.TxnRequest, got, want *pb.TxnResponse) {
	t.Helper()
	if got.Succeeded != want.Succeeded || len(got.Responses) != len(want.Responses) || !proto.Equal(got.Header, want.Header) {
		t.Fatalf("%s: %v\n got  %v\n want %v", what, request, got, want)
	}
	operations := request.Failure
	if got.Succeeded {
		operations = request.Success
	}
	for i, operation := range operations {
		switch {
		case operation.GetRequestRange() != nil:
			checkRange(t, what, operation.GetRequestRange(), got.Responses[i].GetResponseRange(), want.Responses[i].GetResponseRange(), nil)
		case operation.GetRequestTxn() != nil:
			checkTxnResponse(t, what, operation.GetRequestTxn(), got.Responses[i].GetResponseTxn(), want.Responses[i].GetResponseTxn())
		default:
			if !proto.Equal(got.Responses[i], want.Responses[i]) {
				t.Fatalf("%s: operation %d of %v\n got  %v\n want %v", what, i, request, got.Responses[i], want.Responses[i])
			}
		}
	}
}

// checkHistory reads the whole key space at every revision the store
// still has, and some random ranges, and compares them with the model.
func checkHistory(t *testing.T, store *Store, m *model, g *generator) {
	t.Helper()
	current, compacted := store.Revision()
	if current != m.revision || compacted != m.compacted {
		t.Fatalf("store at revision %d compacted %d, model at %d %d", current, compacted, m.revision, m.compacted)
	}
	view := m.write()
	for revision := max(m.compacted, 1); revision <= m.revision; revision++ {
		request := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: revision}
		got, err := store.Range(request)
		want, _ := view.rangeAt(request)
		if err != nil {
			t.Fatalf("range at %d: %v", revision, err)
		}
		checkRange(t, fmt.Sprint("everything at ", revision), request, got, want, view)
	}
	for range 30 {
		request := g.rangeRequest(true)
		got, err := store.Range(request)
		want, wantErr := view.rangeAt(request)
		if wantErr != nil || err != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("range %v: error %v, want %v", request, err, wantErr)
			}
			continue
		}
		checkRange(t, "random range", request, got, want, view)
	}
	if leases := store.Leases(); len(leases) != len(m.leases) {
		t.Fatalf("store has %d leases, model %d", len(leases), len(m.leases))
	}
}
