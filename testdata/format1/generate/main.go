// Command generate writes the format 1 fixture (see ../README.md): data
// written by lockstep's storage and transport formats as they were before
// the membership codec became raft's (commit ba3f194), so that tests can
// check that today's code still reads them. It is kept to show how the
// fixture was made; run it from the root of a checkout of that commit into
// which this directory and internal/formatfixture (the shape of
// expected.json) were copied:
//
//	go run ./testdata/format1/generate testdata/format1
//
// It writes, under the directory given:
//
//   - member/: the data directory of a one-voter lockstep member with a
//     learner that never started, after a few writes, snapshots and log
//     compactions, stopped cleanly (4 KiB WAL segments, a snapshot every 8
//     entries; values of 200 bytes, so that the log spans several
//     segments);
//   - storage/: a WAL and a snapshot store written directly, holding a
//     joint membership (voters, outgoing voters and learners);
//   - messages/: a transport message and a batch, as AppendMessage and
//     AppendBatch encode them;
//   - expected.json: what that code reads back from all three
//     (formatfixture.Expected).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/internal/formatfixture"
	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/transport"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: generate <directory>")
		os.Exit(2)
	}
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func generate(directory string) error {
	for _, part := range []string{"member", "storage", "messages", "expected.json"} {
		if err := os.RemoveAll(filepath.Join(directory, part)); err != nil {
			return err
		}
	}
	var expected formatfixture.Expected
	var err error
	if expected.Keys, err = writeMember(filepath.Join(directory, "member")); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	if expected.Member, err = readStorage(filepath.Join(directory, "member", "raft")); err != nil {
		return fmt.Errorf("read the member back: %w", err)
	}
	if err := writeStorage(filepath.Join(directory, "storage")); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if expected.Storage, err = readStorage(filepath.Join(directory, "storage")); err != nil {
		return fmt.Errorf("read the storage back: %w", err)
	}
	if expected.Message, expected.Batch, err = writeMessages(filepath.Join(directory, "messages")); err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	encoded, err := json.MarshalIndent(expected, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(directory, "expected.json"), append(encoded, '\n'), 0o644)
}

// writeMember runs a member in dataDirectory, writes keys through the etcd
// API (adding a learner half way, so that later snapshots and compaction
// points hold two membership lists), reads them back and stops it.
func writeMember(dataDirectory string) (map[string]string, error) {
	port, err := freeport.Port()
	if err != nil {
		return nil, err
	}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	member, err := server.Start(server.Config{
		Name: "fixture", DataDirectory: dataDirectory,
		ListenClientURLs: []string{"http://127.0.0.1:0"}, ListenPeerURLs: []string{peerURL},
		InitialCluster: map[string][]string{"fixture": {peerURL}}, InitialClusterToken: "format1",
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		SnapshotCount: 8, WALSegmentBytes: 4096, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			member.Stop(context.Background())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for member.Leader() == 0 {
		if ctx.Err() != nil {
			return nil, errors.New("no leader within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: member.ClientAddresses(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	put := func(first, last int) error {
		for i := first; i <= last; i++ {
			// Values of 200 bytes fill the 4 KiB segments quickly, so
			// that the log spans several.
			if _, err := client.Put(ctx, fmt.Sprintf("key-%02d", i), fmt.Sprintf("value-%02d-%s", i, strings.Repeat("v", 191))); err != nil {
				return err
			}
		}
		return nil
	}
	if err := put(1, 10); err != nil {
		return nil, err
	}
	// A learner that never starts: the one voter keeps its quorum.
	if _, err := client.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:1"}); err != nil {
		return nil, fmt.Errorf("add a learner: %w", err)
	}
	if err := put(11, 30); err != nil {
		return nil, err
	}
	if _, err := client.Put(ctx, "key-05", "value-05-rewritten"); err != nil {
		return nil, err
	}
	if _, err := client.Delete(ctx, "key-07"); err != nil {
		return nil, err
	}
	if err := put(31, 33); err != nil {
		return nil, err
	}
	response, err := client.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, pair := range response.Kvs {
		keys[string(pair.Key)] = string(pair.Value)
	}
	client.Close()
	stopped = true
	if err := member.Stop(ctx); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	return keys, nil
}

// writeStorage writes a WAL and a snapshot store directly, with a joint
// membership in both.
func writeStorage(directory string) error {
	joint := raft.Membership{Voters: []raft.NodeID{1, 2, 4}, OutgoingVoters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{5, 6}}
	log, err := wal.Open(vfs.OS, filepath.Join(directory, "wal"), wal.Options{SegmentSize: 4096})
	if err != nil {
		return err
	}
	var entries []raft.Entry
	for index := uint64(1); index <= 12; index++ {
		entry := raft.Entry{Index: index, Term: 1 + index/5, Data: fmt.Appendf(nil, "command %d", index)}
		if index == 6 {
			entry = raft.Entry{Index: index, Term: 2, Type: raft.EntryMembership, Data: raft.EncodeMembership(joint)}
		}
		entries = append(entries, entry)
	}
	if err := log.Save(raft.HardState{Term: 3, Vote: 2, Commit: 9}, entries); err != nil {
		return err
	}
	snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 8, Term: 2, Membership: joint}, Data: []byte("state machine image at 8")}
	store, err := snap.Open(vfs.OS, filepath.Join(directory, "snap"), snap.Options{})
	if err != nil {
		return err
	}
	if err := store.Save(snapshot); err != nil {
		return err
	}
	if err := log.Compact(snapshot.Metadata); err != nil {
		return err
	}
	return log.Close()
}

// readStorage reads a WAL and snapshot store in directory (a copy of it:
// opening may repair), as a node would at start.
func readStorage(directory string) (formatfixture.Storage, error) {
	scratch, err := os.MkdirTemp("", "format1-")
	if err != nil {
		return formatfixture.Storage{}, err
	}
	defer os.RemoveAll(scratch)
	if output, err := exec.Command("cp", "-a", directory+"/.", scratch).CombinedOutput(); err != nil {
		return formatfixture.Storage{}, fmt.Errorf("copy %s: %v: %s", directory, err, output)
	}
	var read formatfixture.Storage
	storage, err := wal.OpenStorage(vfs.OS, filepath.Join(scratch, "wal"), wal.Options{})
	if err != nil {
		return formatfixture.Storage{}, err
	}
	defer storage.Close()
	if read.HardState, read.Membership, err = storage.InitialState(); err != nil {
		return formatfixture.Storage{}, err
	}
	read.Compaction = storage.Log().SnapshotMetadata()
	read.FirstIndex, _ = storage.FirstIndex()
	read.LastIndex, _ = storage.LastIndex()
	entries, err := storage.Entries(read.FirstIndex, read.LastIndex+1, 1<<30)
	if err != nil {
		return formatfixture.Storage{}, err
	}
	read.Entries = formatfixture.Entries(entries)
	read.Segments = storage.Log().Segments()
	store, err := snap.Open(vfs.OS, filepath.Join(scratch, "snap"), snap.Options{})
	if err != nil {
		return formatfixture.Storage{}, err
	}
	if read.Snapshots, err = store.Names(); err != nil {
		return formatfixture.Storage{}, err
	}
	snapshot, err := store.Load()
	if err != nil {
		return formatfixture.Storage{}, err
	}
	read.Snapshot, read.SnapshotDataSHA256 = snapshot.Metadata, formatfixture.Digest(snapshot.Data)
	return read, nil
}

// writeMessages encodes a snapshot message (membership in all three lists)
// and a batch of it with an append, as peers exchange them.
func writeMessages(directory string) (raft.Message, []raft.Message, error) {
	message := raft.Message{
		Type: raft.MessageSnapshot, From: 1, To: 5, Term: 7, Commit: 40,
		Snapshot: &raft.Snapshot{
			Metadata: raft.SnapshotMetadata{Index: 40, Term: 6, Membership: raft.Membership{
				Voters: []raft.NodeID{1, 2, 300}, OutgoingVoters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{5}}},
			Data: []byte("snapshot data"),
		},
	}
	batch := []raft.Message{
		{Type: raft.MessageAppend, From: 1, To: 2, Term: 7, LogIndex: 41, LogTerm: 7, Commit: 41, Entries: []raft.Entry{
			{Index: 42, Term: 7, Data: []byte("put")},
			{Index: 43, Term: 7, Type: raft.EntryMembership, Data: raft.EncodeMembership(raft.Membership{Voters: []raft.NodeID{1, 2, 3}})},
		}},
		message,
	}
	if err := os.MkdirAll(directory, 0o755); err != nil {
		return raft.Message{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(directory, "snapshot-message.bin"), transport.AppendMessage(nil, message), 0o644); err != nil {
		return raft.Message{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(directory, "batch.bin"), transport.AppendBatch(nil, batch), 0o644); err != nil {
		return raft.Message{}, nil, err
	}
	return message, batch, nil
}
