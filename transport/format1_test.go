package transport

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/internal/formatfixture"
	"github.com/lockstepdb/lockstep/raft"
)

// A message and a batch encoded by the transport of commit ba3f194 decode
// to what it encoded, and today's encoding of those messages is the same
// bytes: peers of both builds exchange messages in a rolling upgrade, in
// both directions, without negotiating anything.
func TestFormat1MessagesAreUnchanged(t *testing.T) {
	expected := formatfixture.Load(t)
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(formatfixture.Directory(), "messages", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	encoded := read("snapshot-message.bin")
	message, err := DecodeMessage(encoded, 0)
	if err != nil {
		t.Fatalf("decode the message of format 1: %v", err)
	}
	if !reflect.DeepEqual(message, normalized(expected.Message)) {
		t.Fatalf("decoded %#v,\nwant %#v", message, normalized(expected.Message))
	}
	if again := AppendMessage(nil, expected.Message); !bytes.Equal(again, encoded) {
		t.Fatalf("today's encoding differs:\n   today %x\n ba3f194 %x", again, encoded)
	}

	encoded = read("batch.bin")
	batch, err := DecodeBatch(encoded, 0)
	if err != nil {
		t.Fatalf("decode the batch of format 1: %v", err)
	}
	var want []raft.Message
	for _, m := range expected.Batch {
		want = append(want, normalized(m))
	}
	if !reflect.DeepEqual(batch, want) {
		t.Fatalf("decoded %#v,\nwant %#v", batch, want)
	}
	if again := AppendBatch(nil, expected.Batch); !bytes.Equal(again, encoded) {
		t.Fatalf("today's encoding of the batch differs:\n   today %x\n ba3f194 %x", again, encoded)
	}
}
