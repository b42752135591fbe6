package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
)

// fillStore applies a varied history: puts with leases, deletes, a Txn, a
// compaction, an alarm and member attributes.
func fillStore(h *harness, rounds int) {
	h.grant(100, 60)
	for i := range rounds {
		key := fmt.Sprintf("key-%03d", i%17)
		lease := int64(0)
		if i%5 == 0 {
			lease = 100
		}
		h.put(key, fmt.Sprintf("value-%d", i), lease)
		if i%7 == 3 {
			h.remove(fmt.Sprintf("key-%03d", (i+3)%17), "")
		}
	}
	h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("txn-a", "1"), opPut("txn-b", "2")}})
	current, _ := h.store.Revision()
	h.compact(current / 2)
	h.one(alarmRequest(pb.AlarmRequest_ACTIVATE, 3, pb.AlarmType_CORRUPT))
	h.one(alarmRequest(pb.AlarmRequest_DEACTIVATE, 3, pb.AlarmType_CORRUPT))
	h.one(&pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{Member_ID: 3, MemberAttributes: &membershippb.Attributes{Name: "three"}}})
}

// imageOf reads a whole snapshot image.
func imageOf(t testing.TB, store *Store) []byte {
	t.Helper()
	reader, err := store.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	image, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("read image: %v", err)
	}
	if err := reader.Close(); err != nil {
		t.Fatalf("close image: %v", err)
	}
	return image
}

// fingerprint describes a store's whole observable state: revisions,
// applied index, hash, every key at every uncompacted revision, leases,
// alarms and members.
func fingerprint(t testing.TB, store *Store) string {
	t.Helper()
	text := summary(t, store) + "\n"
	current, compacted := store.Revision()
	for revision := max(compacted, 1); revision <= current; revision++ {
		response, err := store.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: revision})
		if err != nil {
			t.Fatalf("Range at %d: %v", revision, err)
		}
		text += fmt.Sprintf("%d: %v\n", revision, describe(response.Kvs))
	}
	text += fmt.Sprintf("leases %+v\nalarms %v\nmembers %v\n", store.Leases(), store.Alarms(), store.MemberAttributes())
	return text
}

// summary describes a store's state more cheaply than fingerprint: the
// revisions, applied index, HashKV (which covers the whole history) and
// the current keys.
func summary(t testing.TB, store *Store) string {
	t.Helper()
	current, compacted := store.Revision()
	hash, _, _, err := store.HashKV(0)
	if err != nil {
		t.Fatalf("HashKV: %v", err)
	}
	response, err := store.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	return fmt.Sprintf("applied %d revision %d compacted %d hash %08x keys %v", store.AppliedIndex(), current, compacted, hash, describe(response.Kvs))
}

// TestSnapshotRestore restores an image into a fresh store and into one
// with another history, and checks both end up identical to the source.
func TestSnapshotRestore(t *testing.T) {
	source := newHarness(t, Options{})
	fillStore(source, 120)
	image := imageOf(t, source.store)
	want := fingerprint(t, source.store)

	fresh := newHarness(t, Options{})
	if err := fresh.store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := fingerprint(t, fresh.store); got != want {
		t.Errorf("restored store differs:\n%s\nwant\n%s", got, want)
	}
	other := newHarness(t, Options{})
	fillStore(other, 30)
	if err := other.store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatalf("Restore over another state: %v", err)
	}
	if got := fingerprint(t, other.store); got != want {
		t.Errorf("store restored over another state differs")
	}
	// Both go on identically.
	source.index, other.index = source.store.AppliedIndex(), other.store.AppliedIndex()
	source.put("after", "restore", 100)
	other.put("after", "restore", 100)
	if fingerprint(t, source.store) != fingerprint(t, other.store) {
		t.Errorf("source and restored store diverge on the next command")
	}
	if instances, _ := other.store.directory.instances(); len(instances) != 1 {
		t.Errorf("instances after restore: %v, want the new one only", instances)
	}
}

// TestSnapshotIsPointInTime reads an image after more commands were
// applied: it still holds the state of the moment Snapshot was called.
func TestSnapshotIsPointInTime(t *testing.T) {
	source := newHarness(t, Options{})
	fillStore(source, 20)
	want := fingerprint(t, source.store)
	reader, err := source.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	source.put("later", "1", 0)
	image, err := io.ReadAll(reader)
	if err != nil {
		t.Fatal(err)
	}
	reader.Close()
	restored := newHarness(t, Options{})
	if err := restored.store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatal(err)
	}
	if got := fingerprint(t, restored.store); got != want {
		t.Errorf("image taken before a put holds:\n%s\nwant\n%s", got, want)
	}
}

// TestRestoreRefusesCorruptImages checks that damaged images are refused
// with a clear error and leave the state and directory as they were.
func TestRestoreRefusesCorruptImages(t *testing.T) {
	source := newHarness(t, Options{})
	fillStore(source, 40)
	image := imageOf(t, source.store)
	target := newHarness(t, Options{})
	fillStore(target, 10)
	want := fingerprint(t, target.store)
	flipped := bytes.Clone(image)
	flipped[len(flipped)/2] ^= 0x40
	reordered := bytes.Clone(image)
	copy(reordered[len(imageMagic):], []byte{imageRecordTag, 1, 'z', 0})
	cases := map[string][]byte{
		"empty":            nil,
		"bad magic":        append([]byte("NOTANIMG"), image[8:]...),
		"truncated":        image[:len(image)-7],
		"no checksum":      image[:len(image)-4],
		"flipped bit":      flipped,
		"trailing data":    append(bytes.Clone(image), 0),
		"out of order key": reordered,
	}
	for name, damaged := range cases {
		err := target.store.Restore(bytes.NewReader(damaged))
		if !errors.Is(err, errCorruptImage) {
			t.Errorf("%s: Restore error %v, want a corrupt image error", name, err)
		}
		if got := fingerprint(t, target.store); got != want {
			t.Errorf("%s: state changed by a refused image", name)
		}
	}
	if instances, _ := target.store.directory.instances(); len(instances) != 1 {
		t.Errorf("instances after refused restores: %v", instances)
	}
}

// TestRestoreContinuesWatchers restores a state that is ahead: a watcher
// gets the events it had not delivered from the new state; a watcher whose
// next revision the new state compacted is canceled.
func TestRestoreContinuesWatchers(t *testing.T) {
	behind := newHarness(t, Options{})
	ahead := newHarness(t, Options{})
	for _, h := range []*harness{behind, ahead} {
		h.put("w", "1", 0) // 2
		h.put("w", "2", 0) // 3
	}
	continuing := mustWatch(t, behind.store, WatchRequest{Key: []byte("w"), PrevKV: true})
	canceled := mustWatch(t, behind.store, WatchRequest{Key: []byte("x")})
	ahead.put("w", "3", 0) // 4
	ahead.put("x", "1", 0) // 5
	ahead.put("w", "4", 0) // 6
	ahead.compact(5)
	if err := behind.store.Restore(bytes.NewReader(imageOf(t, ahead.store))); err != nil {
		t.Fatal(err)
	}
	response := receive(t, canceled)
	if !response.Canceled || response.CompactRevision != 5 {
		t.Errorf("watcher of a compacted revision: %+v", response)
	}
	// w's revision 4 was compacted too: the watcher of w needed revision
	// 4 and is canceled as well.
	if response := receive(t, continuing); !response.Canceled {
		t.Errorf("watcher of w: %+v, want canceled", response)
	}

	fresh := newHarness(t, Options{})
	fresh.put("w", "1", 0)
	fresh.put("w", "2", 0)
	watcher := mustWatch(t, fresh.store, WatchRequest{Key: []byte("w"), PrevKV: true})
	source := newHarness(t, Options{})
	source.put("w", "1", 0)
	source.put("w", "2", 0)
	source.put("w", "3", 0)
	source.put("w", "4", 0)
	if err := fresh.store.Restore(bytes.NewReader(imageOf(t, source.store))); err != nil {
		t.Fatal(err)
	}
	if got := describeEvents(receiveEvents(t, watcher, 2)); !equalStrings(got, []string{"PUT w=3@4 prev=2", "PUT w=4@5 prev=3"}) {
		t.Errorf("after restore: %v", got)
	}
	waitSynced(watcher)
	fresh.index = fresh.store.AppliedIndex()
	fresh.put("w", "5", 0)
	if got := describeEvents(receiveEvents(t, watcher, 1)); !equalStrings(got, []string{"PUT w=5@6 prev=4"}) {
		t.Errorf("live after restore: %v", got)
	}
}

// TestReopenKeepsState closes and reopens a store on disk: data, revisions
// and AppliedIndex survive, and a restore's leftovers are removed.
func TestReopenKeepsState(t *testing.T) {
	directory := t.TempDir()
	store, err := Open(directory, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store}
	fillStore(h, 60)
	want := fingerprint(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// A restore that crashed before switching left an instance behind.
	leftover := vfs.Default.PathJoin(directory, "db-000009")
	if err := vfs.Default.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(directory, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if got := fingerprint(t, reopened); got != want {
		t.Errorf("reopened store:\n%s\nwant\n%s", got, want)
	}
	if _, err := vfs.Default.Stat(leftover); err == nil {
		t.Errorf("leftover instance not removed")
	}
}

// TestOpenRefusesDamagedDirectory checks Open's errors for a bad
// CURRENT-STORE and a missing instance.
func TestOpenRefusesDamagedDirectory(t *testing.T) {
	fs := vfs.NewMem()
	store, err := Open("dir", Options{FileSystem: fs})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	write := func(content string) {
		file, err := fs.Create("dir/"+currentFileName, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		file.Write([]byte(content))
		file.Close()
	}
	write("../elsewhere\n")
	if _, err := Open("dir", Options{FileSystem: fs}); err == nil {
		t.Errorf("Open with a bad CURRENT-STORE succeeded")
	}
	write("db-000007\n")
	if _, err := Open("dir", Options{FileSystem: fs}); err == nil {
		t.Errorf("Open with CURRENT-STORE naming a missing instance succeeded")
	}
}

// TestCrashKeepsAPrefix applies batches on a crashable file system and
// clones it as a crash would leave it, at random moments and with random
// unsynced data kept: the reopened store always holds exactly the state
// after some applied batch, with the matching AppliedIndex, and never
// less than what the last Snapshot made durable.
func TestCrashKeepsAPrefix(t *testing.T) {
	random := rand.New(rand.NewPCG(7, 11))
	fs := vfs.NewCrashableMem()
	store, err := Open("crash", Options{FileSystem: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := &harness{t: t, store: store}
	states := map[uint64]string{0: summary(t, store)}
	durable := uint64(0)
	for round := range 40 {
		var requests []*pb.InternalRaftRequest
		for i := range 1 + random.IntN(20) {
			key := fmt.Sprintf("k%d", random.IntN(30))
			if random.IntN(4) == 0 {
				requests = append(requests, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}})
				continue
			}
			requests = append(requests, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: bytes.Repeat([]byte{byte(i)}, random.IntN(4000))}})
		}
		h.apply(requests...)
		states[store.AppliedIndex()] = summary(t, store)
		if round%9 == 4 {
			imageOf(t, store)
			durable = store.AppliedIndex()
		}
		if round%5 != 0 {
			continue
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: random.IntN(100), RNG: rand.New(rand.NewPCG(uint64(round), 1))})
		recovered, err := Open("crash", Options{FileSystem: crashed})
		if err != nil {
			t.Fatalf("round %d: open after crash: %v", round, err)
		}
		applied := recovered.AppliedIndex()
		want, known := states[applied]
		switch {
		case !known:
			t.Errorf("round %d: recovered AppliedIndex %d is not the end of a batch", round, applied)
		case applied < durable:
			t.Errorf("round %d: recovered AppliedIndex %d below the snapshot's %d", round, applied, durable)
		case summary(t, recovered) != want:
			t.Errorf("round %d: recovered state at index %d differs from the state after that batch", round, applied)
		}
		recovered.Close()
	}
}

// TestBackupRestoresElsewhereAndInspects takes a backup while the store
// goes on applying, restores it into another store, and checks that both
// the copy and InspectImage see the state as of the backup, and that a
// damaged backup is refused.
func TestBackupRestoresElsewhereAndInspects(t *testing.T) {
	source := newHarness(t, Options{})
	for i := 1; i <= 20; i++ {
		source.put(fmt.Sprintf("key-%02d", i%10), "value", 0)
	}
	backup, err := source.store.Backup()
	if err != nil {
		t.Fatal(err)
	}
	want := fingerprint(t, source.store)
	source.put("after-backup", "value", 0) // not in the image
	image, err := io.ReadAll(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := InspectImage(bytes.NewReader(image))
	if err != nil {
		t.Fatal(err)
	}
	if info.Applied != 20 || info.Revision != 21 || info.Keys != 10 || info.Versions != 20 || info.Compacted != -1 || info.Bytes != int64(len(image)) {
		t.Fatalf("inspect: %+v; want applied 20, revision 21, 10 keys, 20 versions, no compaction, %d bytes", info, len(image))
	}

	restored := newHarness(t, Options{})
	if err := restored.store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatal(err)
	}
	if got := fingerprint(t, restored.store); got != want {
		t.Errorf("restored backup differs:\n%s\nwant\n%s", got, want)
	}

	damaged := bytes.Clone(image)
	damaged[len(damaged)/2] ^= 0x40
	if _, err := InspectImage(bytes.NewReader(damaged)); err == nil {
		t.Fatal("InspectImage accepted a damaged image")
	}
	if _, err := InspectImage(bytes.NewReader(image[:len(image)-1])); err == nil {
		t.Fatal("InspectImage accepted a truncated image")
	}
}
