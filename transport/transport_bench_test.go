package transport

import (
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// BenchmarkLoopback measures messages per second from one transport to
// another over TCP on 127.0.0.1: appends of 8 entries of 256 bytes, handed
// to Send 64 at a time as a busy leader would.
func BenchmarkLoopback(b *testing.B) {
	ctx := deadline(b)
	sender := startNode(b, 1, func(c *Config) { c.SendQueueLength = 8192 })
	receiver := startNode(b, 2, nil)
	connect(sender, receiver)
	message := raft.Message{Type: raft.MessageAppend, From: 1, To: 2, Term: 3, LogIndex: 100, LogTerm: 3}
	for i := range 8 {
		message.Entries = append(message.Entries, raft.Entry{Index: 101 + uint64(i), Term: 3, Data: make([]byte, 256)})
	}
	batch := make([]raft.Message, 64)
	for i := range batch {
		batch[i] = message
	}
	b.SetBytes(int64(EncodedSize(message)))
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(len(batch), b.N-sent)
		sender.Send(batch[:n])
		for range n {
			receive(ctx, b, receiver)
		}
		sent += n
	}
	b.StopTimer()
	stats := sender.Stats()
	b.ReportMetric(float64(stats.Sent)/float64(max(stats.BatchesSent, 1)), "messages/frame")
}
