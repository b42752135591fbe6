package kv

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Apply applies committed commands in log order and returns one result per
// entry: an etcd response (*pb.PutResponse, *pb.DeleteRangeResponse,
// *pb.TxnResponse, *pb.CompactionResponse, *pb.LeaseGrantResponse,
// *pb.LeaseRevokeResponse, *pb.LeaseCheckpointResponse, *pb.AlarmResponse,
// *pb.RangeResponse), nil for member attributes, an rpctypes.ErrGRPC*
// error, or a plain error for an undecodable command (which changes
// nothing). Response headers carry only the revision.
//
// All entries go into one Pebble batch that also records the last index,
// committed without sync: Pebble's durable state is always a prefix of
// applied batches. Called from the node's applier goroutine only (see
// machine.StateMachine). A storage failure panics: the replica cannot go
// on without diverging.
func (s *Store) Apply(entries []machine.Entry) []machine.Result {
	results := make([]machine.Result, len(entries))
	if len(entries) == 0 {
		return results
	}
	database := s.current
	if database == nil {
		panic("kv: Apply on a closed store")
	}
	batch := database.db.NewIndexedBatch()
	defer batch.Close()
	index := database.currentIndex(s.options.CurrentIndexKeys)
	committed := false
	defer func() {
		if !committed {
			index.reset() // it holds writes the store does not
		}
	}()
	a := &applier{store: s, batch: batch, state: s.committed, alarmFlags: s.alarms, auth: s.authView(),
		index: index, loadPrevious: s.watches.wantPrevious()}
	for i, entry := range entries {
		results[i] = a.apply(entry.Command)
		a.state.applied = entry.Index
	}
	a.must(a.state.write(batch))
	var started time.Time
	if s.options.ObserveCommit != nil {
		started = time.Now()
	}
	s.mu.Lock() // readers see the batch and its state together (see Store.mu)
	err := batch.Commit(pebble.NoSync)
	if err == nil {
		s.committed, s.alarms = a.state, a.alarmFlags
		if a.authChanged {
			s.auth.Store(a.auth)
		}
	}
	s.mu.Unlock()
	if s.options.ObserveCommit != nil {
		s.options.ObserveCommit(time.Since(started))
	}
	a.must(err)
	committed = true
	s.watches.publish(a.state.revision, a.events, database.db)
	if a.compactionFinished {
		s.flushAfterCompaction(database)
	}
	return results
}

// applier applies the commands of one Apply call to its batch.
type applier struct {
	store  *Store
	batch  *pebble.Batch
	state  storeState
	events []change

	// index is the database's current index, written through with the
	// batch (see currentIndex).
	index *currentIndex
	// loadPrevious: a watcher wants previous key-values, so writes read
	// the versions they replace whole, values included, as they apply;
	// otherwise a change carries the previous version's metadata only,
	// and publish reads its value if a watcher that joined since wants it.
	loadPrevious bool

	// alarmFlags are the alarms active as of this batch: the store's
	// committed ones, then as the batch's alarm requests change them.
	alarmFlags
	// compactionFinished: a compaction step reached the compacted revision.
	compactionFinished bool

	auth        *authState // the auth store, with this batch's changes
	authChanged bool       // auth differs from the store's published one
}

// must panics on a storage failure: Apply cannot report it, and going on
// would let this replica's state differ from the others'.
func (a *applier) must(err error) {
	if err != nil {
		panic(fmt.Sprintf("kv: apply: storage failure: %v", err))
	}
}

// apply decodes and applies one command.
//
// What apply checks again, although a server proposes only commands that
// kv.NewCommand checked, and why: a log entry is whatever a leader
// appended (made by this version's NewCommand, by an older version's, or
// by a leader with a bug), and every member applies it, some much later
// than others (a restart replays the log from the store's applied index; a
// new member catches up from the log). Every member must reach the same
// result from the same entry and state, whatever made the entry, and none
// may panic. So apply checks:
//   - that the bytes decode to one operation this store implements
//     (decodeCommand); anything else is answered with an error and changes
//     nothing;
//   - etcd's request checks (ValidateRequest with Options.MaxTxnOps: empty
//     keys, ignore_value and ignore_lease, sort options, the operations of
//     a Txn, a key written twice in one Txn). They decide whether a command
//     changes the state, so they are part of the replicated transition:
//     apply has made them since the store's first version, so a member
//     that replays an entry must refuse what one that applied it earlier
//     refused. This is also why every member must use the same MaxTxnOps.
//
// It does not check the encoded size: MaxRequestBytes bounds what a server
// lets into the log, not what an entry means, and a member's result must
// not depend on its own flags. The checks against the state (a lease that
// must exist, a key that ignore_value needs, alarms, compacted and future
// revisions) are not checks made twice: only apply can make them, against
// the state the entry is applied to.
func (a *applier) apply(command []byte) machine.Result {
	request, err := decodeCommand(command)
	if err != nil {
		return err
	}
	budget := a.compactionBudget(request)
	result := a.dispatch(request)
	a.compactStep(budget)
	return result
}

// dispatch applies one decoded request. Checks that refuse a request all
// come before its first write, so a refused request changes nothing.
func (a *applier) dispatch(request *pb.InternalRaftRequest) machine.Result {
	// etcd's request checks, again: see apply for why.
	if err := ValidateRequest(request, a.store.options.MaxTxnOps); err != nil {
		return err
	}
	// The identity in the header must be allowed to make the request
	// (auth_permission.go), checked at apply as etcd does, so a change of
	// permissions orders with the requests around it in the log.
	if err := a.auth.authorize(request, a.leaseKeys); err != nil {
		return err
	}
	if result, handled := a.applyAuth(request); handled {
		return result
	}
	switch {
	case request.Range != nil:
		if a.corrupt {
			return rpctypes.ErrGRPCCorrupt
		}
		response, err := executeRange(a.batch, request.Range, a.state.revision, a.state.compacted)
		return resultOf(response, err)
	case request.Put != nil:
		return resultOf(a.applyPut(request.Put))
	case request.DeleteRange != nil:
		return resultOf(a.applyDeleteRange(request.DeleteRange))
	case request.Txn != nil:
		return resultOf(a.applyTxn(request.Txn))
	case request.Compaction != nil:
		return resultOf(a.applyCompaction(request.Compaction))
	case request.LeaseGrant != nil:
		return resultOf(a.applyLeaseGrant(request.LeaseGrant))
	case request.LeaseRevoke != nil:
		return resultOf(a.applyLeaseRevoke(request.LeaseRevoke))
	case request.LeaseCheckpoint != nil:
		return resultOf(a.applyLeaseCheckpoint(request.LeaseCheckpoint))
	case request.Alarm != nil:
		return resultOf(a.applyAlarm(request.Alarm))
	case request.ClusterMemberAttrSet != nil:
		a.applyMemberAttributes(request.ClusterMemberAttrSet)
		return nil
	}
	return fmt.Errorf("kv: command holds no operation")
}

// resultOf returns the error if there is one, else the response, so that
// a failed command's result is the error alone and never a typed nil.
func resultOf[T any](response *T, err error) machine.Result {
	if err != nil {
		return err
	}
	return response
}

// header returns a response header with the current revision.
func (a *applier) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{Revision: a.state.revision}
}

// applyPut applies a Put as etcd: the lease must exist, ignore_value and
// ignore_lease need the key to exist.
func (a *applier) applyPut(request *pb.PutRequest) (*pb.PutResponse, error) {
	switch {
	case a.corrupt:
		return nil, rpctypes.ErrGRPCCorrupt
	case a.noSpace:
		return nil, rpctypes.ErrGRPCNoSpace
	}
	if err := a.checkPut(request); err != nil {
		return nil, err
	}
	write := a.beginWrite(false)
	response := write.put(request)
	write.end()
	return response, nil
}

// checkPut checks what a Put needs from the state before it.
func (a *applier) checkPut(request *pb.PutRequest) error {
	if request.Lease != 0 && !a.leaseExists(request.Lease) {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	if request.IgnoreValue || request.IgnoreLease {
		if _, found := a.currentVersion(request.Key, false); !found {
			return rpctypes.ErrGRPCKeyNotFound
		}
	}
	return nil
}

// applyDeleteRange deletes the keys of an interval in one revision; a
// delete that finds nothing does not change the revision.
func (a *applier) applyDeleteRange(request *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if a.corrupt {
		return nil, rpctypes.ErrGRPCCorrupt
	}
	write := a.beginWrite(false)
	response := write.deleteRange(request)
	write.end()
	return response, nil
}
