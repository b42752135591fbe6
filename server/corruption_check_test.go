package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/lockstepdb/lockstep/internal/poll"
	"github.com/lockstepdb/lockstep/raft"
)

// corruptStore changes, behind the store's back, the value of one version
// in the history of a stopped member's store (the data directory's kv
// store, its history table: keys starting with 'h', see kv's doc.go), as a
// disk that returned other bytes would.
func corruptStore(t *testing.T, dataDirectory string) {
	t.Helper()
	storeDirectory := filepath.Join(dataDirectory, "kv")
	current, err := os.ReadFile(filepath.Join(storeDirectory, "CURRENT-STORE"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(storeDirectory, strings.TrimSpace(string(current))), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	iterator, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("h"), UpperBound: []byte("i")})
	if err != nil {
		t.Fatal(err)
	}
	if !iterator.First() {
		t.Fatal("the store has no history to corrupt")
	}
	key, value := bytes.Clone(iterator.Key()), bytes.Clone(iterator.Value())
	iterator.Close()
	value[len(value)-1] ^= 0x01
	if err := db.Set(key, value, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// quietPebble drops the Pebble logs of corruptStore.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// writeHistory puts a few keys through the cluster and waits until every
// member has applied them, so that all hash the same revision.
func writeHistory(t *testing.T, cluster *testCluster) int64 {
	t.Helper()
	ctx := testContext(t)
	client := cluster.client()
	var revision int64
	for i := range 5 {
		response, err := client.Put(ctx, fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		revision = response.Header.Revision
	}
	for _, member := range cluster.members {
		poll.Until(t, "every member to apply the writes", func() bool { current, _ := member.store.Revision(); return current >= revision })
	}
	return revision
}

// TestCorruptionCheckFindsTheDivergentMember: on a healthy cluster the
// check finds nothing; once a follower's store is changed behind its back,
// the leader's check names that follower, and the periodic check raises
// the CORRUPT alarm for it, which stops writes.
func TestCorruptionCheckFindsTheDivergentMember(t *testing.T) {
	cluster := startCluster(t, 3, func(config *Config) { config.CorruptCheckInterval = time.Second })
	writeHistory(t, cluster)
	leader := cluster.leader()
	ctx := testContext(t)
	if wrong, err := cluster.members[leader].checkCorruption(); err != nil || len(wrong) != 0 {
		t.Fatalf("a healthy cluster's check: %v, %v", wrong, err)
	}
	client := cluster.client()
	if alarms, err := client.AlarmList(ctx); err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarms on a healthy cluster: %v, %v", alarms, err)
	}

	victim := (leader + 1) % 3
	victimID := cluster.members[victim].ID()
	cluster.stop(victim)
	corruptStore(t, cluster.configs[victim].DataDirectory)
	cluster.start(victim)
	poll.Until(t, "the CORRUPT alarm for the divergent member", func() bool {
		alarms, err := client.AlarmList(ctx)
		return err == nil && slices.ContainsFunc(alarms.Alarms, func(alarm *pb.AlarmMember) bool {
			return alarm.Alarm == pb.AlarmType_CORRUPT && alarm.MemberID == victimID
		})
	})
	alarms, err := client.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 1 {
		t.Errorf("alarms: %v, %v; want the victim's alone", alarms, err)
	}
	leader = cluster.leader()
	wrong, err := cluster.members[leader].checkCorruption()
	if err != nil || !slices.Equal(wrong, []raft.NodeID{raft.NodeID(victimID)}) {
		t.Errorf("the leader's check after corrupting %x: %v, %v", victimID, wrong, err)
	}
	if _, err := client.Put(ctx, "after", "corruption"); !errors.Is(err, rpctypes.ErrCorrupt) {
		t.Errorf("a put under the CORRUPT alarm: %v, want %v", err, rpctypes.ErrCorrupt)
	}
}

// TestInitialCorruptionCheckRefusesADivergentMember: with the initial
// check, a member whose store was changed behind its back refuses to
// start, naming the peer it differs from; without the change it starts.
func TestInitialCorruptionCheckRefusesADivergentMember(t *testing.T) {
	cluster := startCluster(t, 3, func(config *Config) { config.InitialCorruptCheck = true })
	writeHistory(t, cluster)
	victim := (cluster.leader() + 1) % 3

	cluster.stop(victim)
	cluster.start(victim) // unchanged: passes
	cluster.stop(victim)
	corruptStore(t, cluster.configs[victim].DataDirectory)
	member, err := Start(cluster.configs[victim])
	if err == nil {
		member.Stop(context.Background())
		t.Fatal("a member with corrupted data started")
	}
	if !strings.Contains(err.Error(), "data differ from member") {
		t.Fatalf("the refusal: %v", err)
	}
}

// TestDivergentNamesTheMinority: the members outside a majority's hash are
// divergent; without a majority, those that differ from this member (the
// leader) are, as in etcd; members that could not hash, or compacted
// elsewhere, count for nothing.
func TestDivergentNamesTheMinority(t *testing.T) {
	answer := func(member raft.NodeID, hash uint32) memberHash {
		return memberHash{member: member, hashed: true, hash: hash, compactRevision: 5}
	}
	for _, test := range []struct {
		name  string
		own   uint32
		peers []memberHash
		size  int
		want  []raft.NodeID
	}{
		{"all agree", 7, []memberHash{answer(2, 7), answer(3, 7)}, 3, nil},
		{"a follower differs", 7, []memberHash{answer(2, 7), answer(3, 8)}, 3, []raft.NodeID{3}},
		{"this member differs", 8, []memberHash{answer(2, 7), answer(3, 7)}, 3, []raft.NodeID{1}},
		{"no majority: the leader's hash counts", 7, []memberHash{answer(2, 8), {member: 3}}, 3, []raft.NodeID{2}},
		{"not comparable", 7, []memberHash{{member: 2, hashed: true, hash: 8, compactRevision: 9}, {member: 3, err: errors.New("down")}}, 3, nil},
		{"five members, two differ", 7, []memberHash{answer(2, 7), answer(3, 9), answer(4, 7), answer(5, 8)}, 5, []raft.NodeID{3, 5}},
	} {
		if got := divergent(1, test.own, 5, test.peers, test.size); !slices.Equal(got, test.want) {
			t.Errorf("%s: divergent = %v, want %v", test.name, got, test.want)
		}
	}
}
