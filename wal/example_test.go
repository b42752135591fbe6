package wal_test

import (
	"errors"
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
	"github.com/lockstepdb/lockstep/wal"
)

// Open a log, make a hard state and entries durable, and recover them
// after a crash.
func ExampleOpen() {
	fileSystem := vfs.NewMemFS() // vfs.OS on a real node
	options := wal.Options{SegmentSize: 1 << 20}
	log, err := wal.Open(fileSystem, "/data/wal", options)
	if err != nil {
		panic(err)
	}
	entries := []raft.Entry{
		{Index: 1, Term: 1, Data: []byte("x=1")},
		{Index: 2, Term: 1, Data: []byte("y=2")},
	}
	// Durable when Save returns: one write, one fsync.
	if err := log.Save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, entries); err != nil {
		panic(err)
	}
	fileSystem.Crash(nil) // power loss: only what was fsynced survives

	recovered, err := wal.Open(fileSystem, "/data/wal", options)
	var corruption *wal.CorruptionError
	if errors.As(err, &corruption) {
		fmt.Println("refusing to start:", corruption)
		return
	}
	if err != nil {
		panic(err)
	}
	defer recovered.Close()
	got, err := recovered.Entries(1, recovered.LastIndex()+1, 1<<20)
	if err != nil {
		panic(err)
	}
	for _, entry := range got {
		fmt.Printf("%d/%d %s\n", entry.Index, entry.Term, entry.Data)
	}
	fmt.Printf("%+v\n", recovered.HardState())
	// Output:
	// 1/1 x=1
	// 2/1 y=2
	// {Term:1 Vote:1 Commit:1}
}

// Serve raft.Storage from the log: the runtime saves each Ready, and
// compacts after the application took a snapshot.
func ExampleStorage() {
	storage, err := wal.OpenStorage(vfs.NewMemFS(), "/data/wal", wal.Options{SegmentSize: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer storage.Close()
	var entries []raft.Entry
	for index := uint64(1); index <= 10; index++ {
		entries = append(entries, raft.Entry{Index: index, Term: 2, Data: []byte("command")})
	}
	if err := storage.Save(raft.HardState{Term: 2, Vote: 1, Commit: 10}, entries); err != nil {
		panic(err)
	}
	// The application snapshotted its state at index 8 (and saved it with
	// snap.Store.Save first).
	snapshot := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 8, Term: 2}, Data: []byte("state")}
	if err := storage.Compact(snapshot); err != nil {
		panic(err)
	}
	first, _ := storage.FirstIndex()
	last, _ := storage.LastIndex()
	term, _ := storage.Term(first - 1)
	fmt.Println(first, last, term)
	// Output: 9 10 2
}
