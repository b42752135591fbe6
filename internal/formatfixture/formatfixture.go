// Package formatfixture opens testdata/format1 for tests: data written by
// the storage and transport formats of commit ba3f194 (WAL and snapshot
// format 1, transport version 1), with what that code read back from it
// (expected.json). Tests of wal, snap, transport and server check that
// today's code reads the same things, so that a data directory written
// then still starts. testdata/format1/README.md says how it was made.
package formatfixture

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// Expected is expected.json, as the generator (testdata/format1/generate,
// built in a checkout of ba3f194 with this package copied in) wrote it.
type Expected struct {
	// Member is what the member's raft directory holds.
	Member Storage `json:"member"`
	// Keys are the member's keys and values when it stopped.
	Keys map[string]string `json:"keys"`
	// Storage is what the directly written WAL and snapshot store hold.
	Storage Storage `json:"storage"`
	// Message is messages/snapshot-message.bin decoded; Batch is
	// messages/batch.bin decoded.
	Message raft.Message   `json:"message"`
	Batch   []raft.Message `json:"batch"`
}

// Storage is what a WAL (wal.Storage) and a snapshot store (snap.Store)
// held, as read back by the code that wrote them.
type Storage struct {
	HardState raft.HardState `json:"hard_state"`
	// Membership is wal.Storage.InitialState's.
	Membership raft.Membership `json:"membership"`
	// Compaction is the log's compaction point.
	Compaction raft.SnapshotMetadata `json:"compaction"`
	FirstIndex uint64                `json:"first_index"`
	LastIndex  uint64                `json:"last_index"`
	// Entries are every entry from FirstIndex to LastIndex.
	Entries []Entry `json:"entries"`
	// Segments are the log's segment file names.
	Segments []string `json:"segments"`
	// Snapshots are the snapshot file names; Snapshot is the newest, whose
	// data has the SHA-256 SnapshotDataSHA256 (hex).
	Snapshots          []string              `json:"snapshots"`
	Snapshot           raft.SnapshotMetadata `json:"snapshot"`
	SnapshotDataSHA256 string                `json:"snapshot_data_sha256"`
}

// Entry is a log entry with its data's SHA-256 (hex) in place of the data.
type Entry struct {
	Index      uint64         `json:"index"`
	Term       uint64         `json:"term"`
	Type       raft.EntryType `json:"type"`
	DataSHA256 string         `json:"data_sha256"`
}

// Directory is the fixture's directory, testdata/format1 at the root of
// the module.
func Directory() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "format1")
}

// Load reads expected.json, failing t if it cannot.
func Load(t testing.TB) Expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Directory(), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var expected Expected
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return expected
}

// Copy copies the fixture's subdirectory part (for example "member/raft")
// into a new temporary directory of t and returns that directory: opening
// data may repair or extend it, and the fixture must stay as it was made.
func Copy(t testing.TB, part string) string {
	t.Helper()
	source := filepath.Join(Directory(), filepath.FromSlash(part))
	target := t.TempDir()
	err := filepath.WalkDir(source, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		relative, err := filepath.Rel(source, path)
		if err != nil {
			return err
		}
		destination := filepath.Join(target, relative)
		if entry.IsDir() {
			return os.MkdirAll(destination, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(destination, data, 0o600)
	})
	if err != nil {
		t.Fatalf("copy the fixture's %s: %v", part, err)
	}
	return target
}

// Digest is the SHA-256 of data in hex, as expected.json records entry and
// snapshot data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Entries returns entries as expected.json records them, data by digest.
func Entries(entries []raft.Entry) []Entry {
	var recorded []Entry
	for _, entry := range entries {
		recorded = append(recorded, Entry{Index: entry.Index, Term: entry.Term, Type: entry.Type, DataSHA256: Digest(entry.Data)})
	}
	return recorded
}
