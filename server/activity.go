package server

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// writeMethods are the client requests Activity counts as writes: each
// waits for its entry to be durable on a quorum (fsyncs included).
var writeMethods = []string{"/etcdserverpb.KV/Put", "/etcdserverpb.KV/Txn", "/etcdserverpb.KV/DeleteRange"}

// Activity is what a member has done since it started, read from its
// metrics. Every field only grows while the member runs; a status page
// (the dashboard) turns two samples into rates.
type Activity struct {
	// Proposals counts the commands this member proposed through Raft.
	Proposals uint64
	// WriteRequests counts the client writes (Put, Txn and DeleteRange)
	// this member served, and WriteLatencySeconds is their total latency.
	WriteRequests       uint64
	WriteLatencySeconds float64
	// LogWrites counts the durable writes of the Raft log (append and
	// fsync), and LogWriteSeconds is their total time.
	LogWrites       uint64
	LogWriteSeconds float64
}

// Activity returns this member's counters. Safe from any goroutine.
func (s *Server) Activity() Activity {
	var activity Activity
	activity.Proposals = uint64(metricValue(s.metrics.proposals).GetCounter().GetValue())
	for _, method := range writeMethods {
		histogram := metricValue(s.metrics.requestSeconds.WithLabelValues(method).(prometheus.Metric)).GetHistogram()
		activity.WriteRequests += histogram.GetSampleCount()
		activity.WriteLatencySeconds += histogram.GetSampleSum()
	}
	logWrites := metricValue(s.metrics.persistSeconds).GetHistogram()
	activity.LogWrites, activity.LogWriteSeconds = logWrites.GetSampleCount(), logWrites.GetSampleSum()
	return activity
}

func metricValue(metric prometheus.Metric) *dto.Metric {
	var value dto.Metric
	_ = metric.Write(&value) // counters and histograms never fail to write
	return &value
}

// WatchChanges returns a channel signalled on every leader or membership
// change and snapshot of this member, and a function ending the watch
// (also ended when the server stops). Signals coalesce: one pending signal
// stands for any number of changes, so a watcher rereads the state it
// shows rather than counting signals. Safe from any goroutine.
func (s *Server) WatchChanges() (<-chan struct{}, func()) {
	changes := make(chan struct{}, 1)
	events, cancel := s.node.Subscribe(16)
	done := make(chan struct{})
	go func() {
		defer cancel()
		for {
			select {
			case <-done:
				return
			case <-s.stopping:
				return
			case <-events:
				select {
				case changes <- struct{}{}:
				default: // one pending signal is enough: the watcher rereads everything
				}
			}
		}
	}()
	var once sync.Once
	return changes, func() { once.Do(func() { close(done) }) }
}
