package transport

import (
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// benchmarkAppend is a typical replication message: 64 entries of 256 bytes.
func benchmarkAppend() raft.Message {
	m := raft.Message{Type: raft.MessageAppend, From: 1, To: 2, Term: 7, LogIndex: 1_000_000, LogTerm: 7, Commit: 999_990}
	for i := range 64 {
		m.Entries = append(m.Entries, raft.Entry{Index: 1_000_001 + uint64(i), Term: 7, Data: make([]byte, 256)})
	}
	return m
}

func benchmarkHeartbeat() raft.Message {
	return raft.Message{Type: raft.MessageHeartbeat, From: 1, To: 2, Term: 7, Commit: 999_990}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name    string
		message raft.Message
	}{{"Heartbeat", benchmarkHeartbeat()}, {"Append64x256B", benchmarkAppend()}} {
		b.Run(c.name, func(b *testing.B) {
			buffer := make([]byte, 0, EncodedSize(c.message))
			b.SetBytes(int64(EncodedSize(c.message)))
			b.ReportAllocs()
			for b.Loop() {
				buffer = AppendMessage(buffer[:0], c.message)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name    string
		message raft.Message
	}{{"Heartbeat", benchmarkHeartbeat()}, {"Append64x256B", benchmarkAppend()}} {
		b.Run(c.name, func(b *testing.B) {
			encoded := AppendMessage(nil, c.message)
			b.SetBytes(int64(len(encoded)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeMessage(encoded, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBatch(b *testing.B) {
	batch := make([]raft.Message, 100)
	for i := range batch {
		batch[i] = benchmarkHeartbeat()
	}
	encoded := AppendBatch(nil, batch)
	b.Run("Encode100Heartbeats", func(b *testing.B) {
		buffer := make([]byte, 0, len(encoded))
		b.ReportAllocs()
		for b.Loop() {
			buffer = AppendBatch(buffer[:0], batch)
		}
	})
	b.Run("Decode100Heartbeats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeBatch(encoded, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
