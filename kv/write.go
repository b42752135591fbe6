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
	previous priorVersion // the key before the write transaction
}

// priorVersion is a key's version before a write transaction.
type priorVersion struct {
	keyValue *mvccpb.KeyValue // nil if the key was absent
	// valueUnread: keyValue is the version's metadata, read without its
	// value because no watcher wanted previous key-values when the write
	// applied; publish reads the value if one does by then.
	valueUnread bool
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
	before map[string]priorVersion
}

// beginWrite starts a write transaction on the current revision; a Txn
// asks to remember previous versions.
func (a *applier) beginWrite(remember bool) *writeTransaction {
	write := &writeTransaction{applier: a, begin: a.state.revision}
	if remember {
		write.before = make(map[string]priorVersion)
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
// version now (found false: absent now; valueRead false: now holds no
// value, see priorVersion).
func (w *writeTransaction) previous(key []byte, now record, found, valueRead bool) priorVersion {
	var prior priorVersion
	if found {
		prior = priorVersion{keyValue: now.keyValue(bytes.Clone(key)), valueUnread: !valueRead}
	}
	if w.before == nil {
		return prior
	}
	if earlier, seen := w.before[string(key)]; seen {
		return earlier
	}
	w.before[string(key)] = prior
	return prior
}

// record writes one version of key: the current table (or its removal
// for a tombstone) and the index of it, the history table and the event
// log.
func (w *writeTransaction) record(key []byte, r record, previous priorVersion) {
	batch, main, sub := w.applier.batch, w.begin+1, w.changes
	encoded := r.encode()
	if r.tombstone {
		w.applier.must(batch.Delete(currentKey(key), nil))
		w.applier.index.remove(key)
	} else {
		w.applier.must(batch.Set(currentKey(key), encoded, nil))
		w.applier.index.set(key, r.metadata())
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
	withValue := w.applier.loadPrevious || request.IgnoreValue || request.PrevKv
	now, found := w.applier.currentVersion(key, withValue)
	previous := w.previous(key, now, found, withValue)
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
	withValues := w.applier.loadPrevious || request.PrevKv
	live, err := collectCurrent(w.applier.batch, request.Key, rangeEnd(request.RangeEnd), collectOptions{withValues: withValues})
	w.applier.must(err)
	response := &pb.DeleteRangeResponse{Deleted: int64(len(live.keyValues))}
	if request.PrevKv {
		response.PrevKvs = live.keyValues
	}
	for _, keyValue := range live.keyValues {
		w.deleteKey(keyValue, withValues)
	}
	response.Header = &pb.ResponseHeader{Revision: w.revision()}
	return response
}

// deleteKey writes a tombstone for a live key and detaches its lease;
// valueRead says whether keyValue holds the key's value.
func (w *writeTransaction) deleteKey(keyValue *mvccpb.KeyValue, valueRead bool) {
	now := record{create: keyValue.CreateRevision, mod: keyValue.ModRevision, version: keyValue.Version, lease: keyValue.Lease, value: keyValue.Value}
	previous := w.previous(keyValue.Key, now, true, valueRead)
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
