package node

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
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
