package server

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/lockstepdb/lockstep/raft"
)

// EmulatedVersion is the etcd version lockstep reports in Status: the API
// level it implements (clients such as Kubernetes enable features by it).
const EmulatedVersion = "3.7.3"

// maintenanceService implements etcd's Maintenance service: Status, Alarm,
// HashKV, MoveLeader, Defragment and Snapshot (snapshot_service.go, in
// lockstep's own format: etcd's is bbolt's). Hash is not offered; see
// docs/compatibility.md.
type maintenanceService struct {
	pb.UnimplementedMaintenanceServer
	server *Server
}

func (m *maintenanceService) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	s := m.server
	status, err := s.node.Status(ctx)
	if err != nil {
		return nil, s.clientError(ctx, err)
	}
	total, inUse := s.store.Size()
	revision, _ := s.store.Revision()
	response := &pb.StatusResponse{
		Header: s.header(revision), Version: EmulatedVersion, DbSize: total, DbSizeInUse: inUse,
		Leader: uint64(status.Leader), RaftIndex: status.Commit, RaftTerm: status.Term, RaftAppliedIndex: status.Applied,
		DbSizeQuota: s.config.QuotaBackendBytes, StorageVersion: EmulatedVersion[:3] + ".0",
	}
	response.Header.RaftTerm = status.Term
	for _, learner := range status.Membership.Learners {
		response.IsLearner = response.IsLearner || learner == s.id
	}
	for _, alarm := range s.store.Alarms() {
		response.Errors = append(response.Errors, "memberID:"+formatHex(alarm.MemberID)+" alarm:"+alarm.Alarm.String())
	}
	if disk := s.diskStatus(); disk != "" {
		response.Errors = append(response.Errors, "memberID:"+formatHex(uint64(s.id))+" "+disk)
	}
	return response, nil
}

func (m *maintenanceService) Alarm(ctx context.Context, request *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	s := m.server
	if request.Action == pb.AlarmRequest_GET {
		// Linearizable, as etcd's (which goes through Raft): an alarm
		// raised anywhere before the call is listed.
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
		revision, _ := s.store.Revision()
		var alarms []*pb.AlarmMember
		for _, alarm := range s.store.Alarms() {
			if request.Alarm == pb.AlarmType_NONE || alarm.Alarm == request.Alarm {
				if request.MemberID == 0 || alarm.MemberID == request.MemberID {
					alarms = append(alarms, alarm)
				}
			}
		}
		return &pb.AlarmResponse{Header: s.header(revision), Alarms: alarms}, nil
	}
	return proposeOrForward(s, ctx, &pb.InternalRaftRequest{Alarm: request},
		func(ctx context.Context, leader *leaderClients) (*pb.AlarmResponse, error) {
			return leader.maint.Alarm(ctx, request)
		})
}

func (m *maintenanceService) HashKV(ctx context.Context, request *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	s := m.server
	hash, hashRevision, compactRevision, err := s.store.HashKV(request.Revision)
	if err != nil {
		return nil, err
	}
	return &pb.HashKVResponse{Header: s.header(hashRevision), Hash: hash, HashRevision: hashRevision, CompactRevision: compactRevision}, nil
}

// MoveLeader hands leadership to a voter. Like etcd, only the leader
// accepts it.
func (m *maintenanceService) MoveLeader(ctx context.Context, request *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	s := m.server
	if raft.NodeID(s.leader.Load()) != s.id {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	status, err := s.node.Status(ctx)
	if err != nil {
		return nil, s.clientError(ctx, err)
	}
	voter := false
	for _, id := range status.Membership.Voters {
		voter = voter || id == raft.NodeID(request.TargetID)
	}
	if !voter || request.TargetID == uint64(s.id) {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	if err := s.node.TransferLeadership(ctx, raft.NodeID(request.TargetID)); err != nil {
		return nil, s.clientError(ctx, err)
	}
	revision, _ := s.store.Revision()
	return &pb.MoveLeaderResponse{Header: s.header(revision)}, nil
}

// Defragment has Pebble rewrite this member's store without what
// compaction removed (kv.Store.Defragment), as etcd's defragmentation
// gives a member's free pages back; requests are served meanwhile.
func (m *maintenanceService) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	s := m.server
	taken := time.Now()
	if err := s.store.Defragment(ctx); err != nil {
		return nil, s.clientError(ctx, err)
	}
	before := s.sizeBytes.Load()
	s.sizeMeasured.Store(0) // the quota check measures again
	total, inUse := s.store.Size()
	s.log.Info("defragmented the store", "took", time.Since(taken), "size-before", before, "size", total, "in-use", inUse)
	revision, _ := s.store.Revision()
	return &pb.DefragmentResponse{Header: s.header(revision)}, nil
}
