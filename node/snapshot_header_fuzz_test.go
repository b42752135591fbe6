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
// streamed from its file.
func FuzzDecodeSnapshotHeader(f *testing.F) {
	f.Add(append(encodeSnapshotHeader(addressBook{1: "a:1", 2: "b:2"}, map[raft.NodeID]bool{2: true}), "image"...))
	f.Add(append(encodeSnapshotHeader(addressBook{}, nil), 0, 1, 2))
	f.Add([]byte{1, 7, 3, 'x', 'y', 'z', 'i', 'm'}) // first format
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		book, promotions, image, err := decodeSnapshot(data)
		streamed := bufio.NewReaderSize(bytes.NewReader(data), 32) // small: refills mid-header
		streamedBook, streamedPromotions, streamedErr := decodeSnapshotHeader(streamed)
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
