package node

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/vfs"
)

// FuzzDecodeSnapshotHeader: the header decoder never panics, and decoding
// a snapshot held in memory agrees with decoding it as a stream (header,
// then the image read on): the two paths a snapshot takes, loaded whole or
// streamed from its file. A header without an image is read only as a
// stream (from this node's own file); in memory it is refused.
func FuzzDecodeSnapshotHeader(f *testing.F) {
	f.Add(append(encodeSnapshotHeader(addressBook{1: "a:1", 2: "b:2"}, map[raft.NodeID]bool{2: true}), "image"...))
	f.Add(append(encodeSnapshotHeader(addressBook{}, nil), 0, 1, 2))
	f.Add([]byte{1, 7, 3, 'x', 'y', 'z', 'i', 'm'}) // first format
	f.Add([]byte(snapshotMagic))
	f.Add(encodeImageKeptHeader(addressBook{1: "a:1"}, map[raft.NodeID]bool{1: true}, 77))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		book, promotions, image, err := decodeSnapshot(data)
		streamed := bufio.NewReaderSize(bytes.NewReader(data), 32) // small: refills mid-header
		header, streamedErr := decodeSnapshotHeader(streamed)
		if streamedErr == nil && header.imageKept {
			if err == nil {
				t.Fatalf("a header without an image decoded in memory: %v", book)
			}
			return
		}
		streamedBook, streamedPromotions := header.book, header.promotions
		if (err == nil) != (streamedErr == nil) {
			t.Fatalf("in memory: %v; streamed: %v", err, streamedErr)
		}
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(streamed)
		if !maps.Equal(book, streamedBook) || !maps.Equal(promotions, streamedPromotions) || !bytes.Equal(image, rest) {
			t.Fatalf("in memory %v %v %q; streamed %v %v %q", book, promotions, image, streamedBook, streamedPromotions, rest)
		}
	})
}

// TestImageKeptHeaderRoundTrip: a header without an image keeps the
// runtime's state and the machine's index, and says no image follows.
func TestImageKeptHeaderRoundTrip(t *testing.T) {
	book, promotions := addressBook{1: "a:1", 3: "c:3"}, map[raft.NodeID]bool{3: true}
	encoded := encodeImageKeptHeader(book, promotions, 1234)
	header, err := decodeSnapshotHeader(bufio.NewReader(bytes.NewReader(encoded)))
	if err != nil {
		t.Fatal(err)
	}
	if !header.imageKept || header.machineIndex != 1234 || !maps.Equal(header.book, book) || !maps.Equal(header.promotions, promotions) {
		t.Fatalf("decoded %+v", header)
	}
	full, err := decodeSnapshotHeader(bufio.NewReader(bytes.NewReader(encodeSnapshotHeader(book, promotions))))
	if err != nil || full.imageKept {
		t.Fatalf("a full snapshot's header decoded as %+v, %v", full, err)
	}
	if _, err := decodeSnapshotHeader(bufio.NewReader(bytes.NewReader(encoded[:len(encoded)-1]))); err == nil {
		t.Fatal("a header cut before the machine's index decoded")
	}
}

// TestImageKeptSnapshotNeedsOnlyWhatTheMachineHeld: a snapshot without an
// image records the index the machine held when it was taken, which may
// be below the snapshot's own (entries after the machine's last command
// carry none: a leader's empty entry, a membership change). A machine at
// that index or later starts without a restore; one below it cannot be
// restored and says so (ErrImageNotKept).
func TestImageKeptSnapshotNeedsOnlyWhatTheMachineHeld(t *testing.T) {
	disk := vfs.NewMemFS()
	snapshots, err := snap.Open(disk, "/snap", snap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	metadata := raft.SnapshotMetadata{Index: 8, Term: 2}
	if err := snapshots.SaveFrom(metadata, encodeImageKeptHeader(addressBook{1: "a:1"}, nil, 5), nil); err != nil {
		t.Fatal(err)
	}
	machine := &durableCounter{t: t}
	for _, applied := range []uint64{5, 6, 8, 9} {
		header, err := readSnapshotFile(snapshots, metadata, snapshotFileRead{restoreInto: machine, onlyIfBehind: true, machineApplied: applied})
		if err != nil || !header.imageKept || header.book[1] != "a:1" {
			t.Fatalf("a machine at %d: %+v, %v; want the header and no restore", applied, header, err)
		}
	}
	if _, err := readSnapshotFile(snapshots, metadata, snapshotFileRead{restoreInto: machine, onlyIfBehind: true, machineApplied: 4}); !errors.Is(err, ErrImageNotKept) {
		t.Fatalf("a machine at 4: %v, want ErrImageNotKept", err)
	}
	// Installed over the machine (a snapshot from the leader), it cannot
	// restore anything, and the error names no index the machine was
	// never asked for.
	_, err = readSnapshotFile(snapshots, metadata, snapshotFileRead{restoreInto: machine})
	if !errors.Is(err, ErrImageNotKept) || strings.Contains(err.Error(), "at index") {
		t.Fatalf("installed over the machine: %v, want ErrImageNotKept naming no machine index", err)
	}
	if machine.restores != 0 {
		t.Fatalf("%d restores from a snapshot without an image", machine.restores)
	}
}
