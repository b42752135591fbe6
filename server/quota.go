package server

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// checkQuota refuses a write that would grow a store whose data in use
// (kv.Store.Size's inUse, as etcd's quota counts the pages in use, not
// the file) is already over its quota, and raises the NOSPACE alarm (replicated, so every member refuses
// writes until an operator compacts, defragments and disarms it). Deletes
// and compaction stay allowed so the operator can free space; no data is
// lost.
func (s *Server) checkQuota(ctx context.Context) error {
	if err := s.checkDisk(); err != nil {
		return err
	}
	if s.storeSize() <= s.config.QuotaBackendBytes {
		return nil
	}
	for _, alarm := range s.store.Alarms() {
		if alarm.Alarm == pb.AlarmType_NOSPACE {
			return rpctypes.ErrGRPCNoSpace
		}
	}
	s.log.Warn("store is over its quota: raising the NOSPACE alarm", "size", s.storeSize(), "quota", s.config.QuotaBackendBytes)
	activate := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: uint64(s.id), Alarm: pb.AlarmType_NOSPACE}
	// The server raises the alarm, not the client whose write found the
	// store full (who may not administer alarms when auth is enabled).
	_, _ = proposeOrForward(s, serverContext(ctx), &pb.InternalRaftRequest{Alarm: activate},
		func(ctx context.Context, leader *leaderClients) (*pb.AlarmResponse, error) {
			return leader.maint.Alarm(ctx, activate)
		})
	return rpctypes.ErrGRPCNoSpace
}

// sizeRefresh bounds how stale the size the quota check uses may be:
// asking Pebble for its size on every write costs more than the write.
const sizeRefresh = 100 * time.Millisecond

// storeSize returns the store's size in use, measured at most sizeRefresh ago.
// Safe for concurrent use.
func (s *Server) storeSize() int64 {
	now := time.Now().UnixNano()
	if measured := s.sizeMeasured.Load(); now-measured < int64(sizeRefresh) && measured != 0 {
		return s.sizeBytes.Load()
	}
	_, inUse := s.store.Size()
	s.sizeBytes.Store(inUse)
	s.sizeMeasured.Store(now)
	return inUse
}
