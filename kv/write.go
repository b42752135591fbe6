package kv

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// change is one event made by Apply, kept for the watchers.
type change struct {
	event    *mvccpb.Event
	previous *mvccpb.KeyValue // the key before the write transaction, nil if absent
}

// writeTransaction is one etcd write transaction: every change it makes
// has the revision after begin, with increasing sub revisions.
type writeTransaction struct {
	applier *applier
	begin   int64
	changes int64
	// before holds, for a Txn, the version each touched key had before
	// the transaction, so that a key changed twice (possible with a
	// "\x00" delete range, which etcd's duplicate check lets through)
	// reports the same previous value for both events, as etcd does.
	before map[string]*mvccpb.KeyValue
}

// beginWrite starts a write transaction on the current revision; a Txn
// asks to remember previous versions.
func (a *applier) beginWrite(remember bool) *writeTransaction {
	write := &writeTransaction{applier: a, begin: a.state.revision}
	if remember {
		write.before = make(map[string]*mvccpb.KeyValue)
	}
	return write
}

// revision is the revision reads inside the transaction see.
func (w *writeTransaction) revision() int64 {
	if w.changes > 0 {
		return w.begin + 1
	}
	return w.begin
}

// end closes the transaction: the store moves to the next revision if
// anything changed.
func (w *writeTransaction) end() {
	w.applier.state.revision = w.revision()
}

// previous returns the key's version before the transaction, given its
// version now (found false: absent now).
func (w *writeTransaction) previous(key []byte, now record, found bool) *mvccpb.KeyValue {
	var keyValue *mvccpb.KeyValue
	if found {
		keyValue = now.keyValue(bytes.Clone(key))
	}
	if w.before == nil {
		return keyValue
	}
	if earlier, seen := w.before[string(key)]; seen {
		return earlier
	}
	w.before[string(key)] = keyValue
	return keyValue
}

// record writes one version of key: the current table (or its removal
// for a tombstone), the history table and the event log.
func (w *writeTransaction) record(key []byte, r record, previous *mvccpb.KeyValue) {
	batch, main, sub := w.applier.batch, w.begin+1, w.changes
	encoded := r.encode()
	if r.tombstone {
		w.applier.must(batch.Delete(currentKey(key), nil))
	} else {
		w.applier.must(batch.Set(currentKey(key), encoded, nil))
	}
	w.applier.must(batch.Set(historyKey(key, main, sub), encoded, nil))
	w.applier.must(batch.Set(eventKey(main, sub), key, nil))
	event := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: r.keyValue(bytes.Clone(key))}
	if r.tombstone {
		event = &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: bytes.Clone(key), ModRevision: main}}
	}
	w.applier.events = append(w.applier.events, change{event: event, previous: previous})
	w.changes++
}

// put writes a new version of the request's key and moves its lease
// attachment; checkPut has passed.
func (w *writeTransaction) put(request *pb.PutRequest) *pb.PutResponse {
	key := request.Key
	now, found, err := currentRecord(w.applier.batch, key)
	w.applier.must(err)
	previous := w.previous(key, now, found)
	main := w.begin + 1
	next := record{create: main, mod: main, version: 1, lease: request.Lease, value: request.Value}
	if found {
		next.create, next.version = now.create, now.version+1
	}
	if request.IgnoreValue {
		next.value = now.value
	}
	if request.IgnoreLease {
		next.lease = now.lease
	}
	w.record(key, next, previous)
	w.moveLease(key, now.lease, next.lease)
	response := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: main}}
	if request.PrevKv && found {
		response.PrevKv = now.keyValue(bytes.Clone(key))
	}
	return response
}

// moveLease detaches key from lease from and attaches it to lease to.
func (w *writeTransaction) moveLease(key []byte, from, to int64) {
	if from == to {
		return
	}
	if from != 0 {
		w.applier.must(w.applier.batch.Delete(leaseAttachmentKey(from, key), nil))
	}
	if to != 0 {
		w.applier.must(w.applier.batch.Set(leaseAttachmentKey(to, key), nil, nil))
	}
}

// deleteRange deletes every live key of the request's interval.
func (w *writeTransaction) deleteRange(request *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	live, err := collectCurrent(w.applier.batch, request.Key, rangeEnd(request.RangeEnd), collectOptions{withValues: true})
	w.applier.must(err)
	response := &pb.DeleteRangeResponse{Deleted: int64(len(live.keyValues))}
	if request.PrevKv {
		response.PrevKvs = live.keyValues
	}
	for _, keyValue := range live.keyValues {
		w.deleteKey(keyValue)
	}
	response.Header = &pb.ResponseHeader{Revision: w.revision()}
	return response
}

// deleteKey writes a tombstone for a live key and detaches its lease.
func (w *writeTransaction) deleteKey(keyValue *mvccpb.KeyValue) {
	now := record{create: keyValue.CreateRevision, mod: keyValue.ModRevision, version: keyValue.Version, lease: keyValue.Lease, value: keyValue.Value}
	previous := w.previous(keyValue.Key, now, true)
	w.record(keyValue.Key, record{mod: w.begin + 1, tombstone: true}, previous)
	w.moveLease(keyValue.Key, keyValue.Lease, 0)
}

// leaseExists reports whether lease id is granted, as of the batch.
func (a *applier) leaseExists(id int64) bool {
	_, closer, err := a.batch.Get(leaseKey(id))
	if err == pebble.ErrNotFound {
		return false
	}
	a.must(err)
	closer.Close()
	return true
}
