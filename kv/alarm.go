package kv

import (
	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// readAlarms returns the active alarms in reader, ordered by type then
// member.
func readAlarms(reader pebble.Reader) ([]*pb.AlarmMember, error) {
	var alarms []*pb.AlarmMember
	err := scanTable(reader, "alarms", alarmPrefix, func(key, _ []byte) error {
		alarm, member, err := parseAlarmKey(key)
		alarms = append(alarms, &pb.AlarmMember{MemberID: member, Alarm: pb.AlarmType(alarm)})
		return err
	})
	return alarms, err
}

// alarmFlags say which alarms that change what Apply accepts are active
// (for any member): the store keeps them beside its committed state, so
// that Apply does not scan the alarm table for every batch (with one put
// per batch, the scan's iterator cost a third of Apply).
type alarmFlags struct {
	noSpace bool // a NOSPACE alarm is active: refuse writes that add data
	corrupt bool // a CORRUPT alarm is active: refuse reads and writes
}

// loadAlarmFlags reads the alarm flags from reader: when a store opens or
// restores, and after an Apply changes an alarm.
func loadAlarmFlags(reader pebble.Reader) (alarmFlags, error) {
	alarms, err := readAlarms(reader)
	var flags alarmFlags
	for _, alarm := range alarms {
		switch alarm.Alarm {
		case pb.AlarmType_NOSPACE:
			flags.noSpace = true
		case pb.AlarmType_CORRUPT:
			flags.corrupt = true
		}
	}
	return flags, err
}

// applyAlarm activates, deactivates or lists alarms, as etcd: activating
// answers the alarm (already active or new), deactivating answers the
// alarm removed (none if it was not active), GET answers the alarms of
// the given type (all for NONE). An unknown action answers no alarms.
func (a *applier) applyAlarm(request *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	response := &pb.AlarmResponse{Header: a.header()}
	member := &pb.AlarmMember{MemberID: request.MemberID, Alarm: request.Alarm}
	key := alarmKey(int32(request.Alarm), request.MemberID)
	switch request.Action {
	case pb.AlarmRequest_GET:
		alarms, err := readAlarms(a.batch)
		a.must(err)
		for _, alarm := range alarms {
			if request.Alarm == pb.AlarmType_NONE || alarm.Alarm == request.Alarm {
				response.Alarms = append(response.Alarms, alarm)
			}
		}
	case pb.AlarmRequest_ACTIVATE:
		if request.Alarm == pb.AlarmType_NONE {
			break
		}
		a.must(a.batch.Set(key, nil, nil))
		response.Alarms = append(response.Alarms, member)
	case pb.AlarmRequest_DEACTIVATE:
		_, closer, err := a.batch.Get(key)
		if err == pebble.ErrNotFound {
			break
		}
		a.must(err)
		closer.Close()
		a.must(a.batch.Delete(key, nil))
		response.Alarms = append(response.Alarms, member)
	}
	flags, err := loadAlarmFlags(a.batch)
	a.must(err)
	a.alarmFlags = flags
	return response, nil
}

// Alarms returns the active alarms, ordered by type then member. Callable
// from any goroutine; nil on a closed store.
func (s *Store) Alarms() []*pb.AlarmMember {
	view, err := s.openView()
	if err != nil {
		return nil
	}
	defer view.close()
	alarms, _ := readAlarms(view.snapshot)
	return alarms
}
