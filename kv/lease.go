package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// MaxLeaseTTL is the largest TTL a lease may be granted with, as etcd's.
const MaxLeaseTTL = 9_000_000_000

// LeaseInfo describes a granted lease.
type LeaseInfo struct {
	ID int64
	// TTL is the TTL the lease was granted with, in seconds.
	TTL int64
	// RemainingTTL is the remaining TTL of the last LeaseCheckpoint, 0 if
	// none was applied.
	RemainingTTL int64
	// Keys are the keys attached to the lease, sorted.
	Keys [][]byte
}

// leaseRecord is a lease's stored value: TTL and checkpointed remaining
// TTL as varints.
func encodeLease(ttl, remaining int64) []byte {
	return binary.AppendVarint(binary.AppendVarint(nil, ttl), remaining)
}

func decodeLease(encoded []byte) (ttl, remaining int64, err error) {
	ttl, n := binary.Varint(encoded)
	if n <= 0 {
		return 0, 0, fmt.Errorf("kv: malformed lease record")
	}
	remaining, m := binary.Varint(encoded[n:])
	if m <= 0 || n+m != len(encoded) {
		return 0, 0, fmt.Errorf("kv: malformed lease record")
	}
	return ttl, remaining, nil
}

// applyLeaseGrant grants a lease with the proposer's ID, as etcd's lessor:
// ID 0 is refused with ErrGRPCLeaseNotFound (etcd's server picks an ID
// before proposing; so must ours), an existing ID with ErrGRPCLeaseExist.
func (a *applier) applyLeaseGrant(request *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	switch {
	case a.corrupt:
		return nil, rpctypes.ErrGRPCCorrupt
	case a.noSpace:
		return nil, rpctypes.ErrGRPCNoSpace
	case request.ID == 0:
		return nil, rpctypes.ErrGRPCLeaseNotFound
	case request.TTL > MaxLeaseTTL:
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	case a.leaseExists(request.ID):
		return nil, rpctypes.ErrGRPCLeaseExist
	}
	a.must(a.batch.Set(leaseKey(request.ID), encodeLease(request.TTL, 0), nil))
	return &pb.LeaseGrantResponse{Header: a.header(), ID: request.ID, TTL: request.TTL}, nil
}

// applyLeaseRevoke deletes a lease and every key attached to it, in key
// order and in one revision.
func (a *applier) applyLeaseRevoke(request *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	switch {
	case a.corrupt:
		return nil, rpctypes.ErrGRPCCorrupt
	case !a.leaseExists(request.ID):
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	keys, err := attachedKeys(a.batch, request.ID)
	a.must(err)
	write := a.beginWrite(false)
	for _, key := range keys {
		now, found := a.currentVersion(key, a.loadPrevious)
		if found {
			write.deleteKey(now.keyValue(key), a.loadPrevious)
		}
	}
	write.end()
	prefix := leaseKeysPrefix(request.ID)
	a.must(a.batch.DeleteRange(prefix, nextPrefix(prefix), nil))
	a.must(a.batch.Delete(leaseKey(request.ID), nil))
	return &pb.LeaseRevokeResponse{Header: a.header()}, nil
}

// applyLeaseCheckpoint records the remaining TTL of existing leases;
// unknown ones are skipped, as etcd does.
func (a *applier) applyLeaseCheckpoint(request *pb.LeaseCheckpointRequest) (*pb.LeaseCheckpointResponse, error) {
	for _, checkpoint := range request.Checkpoints {
		value, err := getValue(a.batch, leaseKey(checkpoint.ID))
		if err == pebble.ErrNotFound {
			continue
		}
		a.must(err)
		ttl, _, err := decodeLease(value)
		a.must(err)
		a.must(a.batch.Set(leaseKey(checkpoint.ID), encodeLease(ttl, checkpoint.Remaining_TTL), nil))
	}
	return &pb.LeaseCheckpointResponse{Header: a.header()}, nil
}

// attachedKeys returns the keys attached to lease id, sorted.
func attachedKeys(reader pebble.Reader, id int64) ([][]byte, error) {
	prefix := leaseKeysPrefix(id)
	var keys [][]byte
	err := scan(reader, "lease keys", prefix, nextPrefix(prefix), func(key, _ []byte) error {
		keys = append(keys, bytes.Clone(key[len(prefix):]))
		return nil
	})
	return keys, err
}

// Lease returns a granted lease, or false if there is none with id.
// Callable from any goroutine.
func (s *Store) Lease(id int64) (LeaseInfo, bool) {
	view, err := s.openView()
	if err != nil {
		return LeaseInfo{}, false
	}
	defer view.close()
	value, err := getValue(view.snapshot, leaseKey(id))
	if err != nil {
		return LeaseInfo{}, false
	}
	info, err := leaseInfo(view.snapshot, id, value)
	return info, err == nil
}

// Leases returns every granted lease, sorted by ID. Callable from any
// goroutine; nil on a closed store.
func (s *Store) Leases() []LeaseInfo {
	view, err := s.openView()
	if err != nil {
		return nil
	}
	defer view.close()
	var leases []LeaseInfo
	scanTable(view.snapshot, "leases", leasePrefix, func(key, value []byte) error {
		id, err := parseLeaseKey(key)
		if err != nil {
			return err
		}
		info, err := leaseInfo(view.snapshot, id, value)
		if err == nil {
			leases = append(leases, info)
		}
		return err
	}) // a damaged entry ends the list there
	return leases
}

// leaseInfo assembles a lease's description from its stored value.
func leaseInfo(reader pebble.Reader, id int64, value []byte) (LeaseInfo, error) {
	ttl, remaining, err := decodeLease(value)
	if err != nil {
		return LeaseInfo{}, err
	}
	keys, err := attachedKeys(reader, id)
	if err != nil {
		return LeaseInfo{}, err
	}
	return LeaseInfo{ID: id, TTL: ttl, RemainingTTL: remaining, Keys: keys}, nil
}
