package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/web"
)

// writeMethods are the client requests whose latency the dashboard charts:
// each waits for its entry to be durable on a quorum (fsyncs included).
var writeMethods = []string{"/etcdserverpb.KV/Put", "/etcdserverpb.KV/Txn", "/etcdserverpb.KV/DeleteRange"}

// mountDashboard serves this member's live dashboard on the admin mux
// (called once by AdminHandler).
func (s *Server) mountDashboard(mux *http.ServeMux) {
	mux.Handle(web.Prefix, web.Handler(web.Options{Cluster: memberView{s}}))
}

// memberView is the dashboard's view of a single member.
type memberView struct{ server *Server }

func (v memberView) Sample(ctx context.Context) []web.MemberState {
	return []web.MemberState{v.server.DashboardState(ctx)}
}

func (v memberView) Watch() (<-chan struct{}, func()) { return v.server.DashboardWatch() }

// DashboardState is this member's state as the dashboard shows it. Called
// from any goroutine; bounded by ctx (a stopped member reports Up false).
func (s *Server) DashboardState(ctx context.Context) web.MemberState {
	state := web.MemberState{Name: s.config.Name, ID: hexID(s.id)}
	status, err := s.node.Status(ctx)
	if err != nil {
		state.Error = err.Error()
		return state
	}
	state.Up = true
	state.Role = status.Role.String()
	state.Term, state.Commit, state.Applied = status.Term, status.Commit, status.Applied
	state.FirstIndex, state.LastIndex, state.LastTerm = status.FirstIndex, status.LastIndex, status.LastTerm
	state.Vote, state.Leader = hexID(status.Vote), hexID(status.Leader)
	for _, voter := range append(append([]raft.NodeID{}, status.Membership.Voters...), status.Membership.Learners...) {
		if follower, ok := status.Followers[voter]; ok {
			state.Followers = append(state.Followers, web.FollowerState{
				ID: hexID(voter), Match: follower.Match, Next: follower.Next, Inflight: follower.Inflight, Replicating: follower.Replicating,
			})
		}
	}
	state.Proposals = uint64(metricValue(s.metrics.proposals).GetCounter().GetValue())
	for _, method := range writeMethods {
		histogram := metricValue(s.metrics.requestSeconds.WithLabelValues(method).(prometheus.Metric)).GetHistogram()
		state.WriteRequests += histogram.GetSampleCount()
		state.WriteLatencySeconds += histogram.GetSampleSum()
	}
	logWrites := metricValue(s.metrics.persistSeconds).GetHistogram()
	state.LogWrites, state.LogWriteSeconds = logWrites.GetSampleCount(), logWrites.GetSampleSum()
	return state
}

// DashboardWatch returns a channel signalled on every leader or membership
// change and snapshot of this member, and a function ending the watch
// (also ended when the server stops). Safe from any goroutine.
func (s *Server) DashboardWatch() (<-chan struct{}, func()) {
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
				default: // one pending signal is enough: the page resamples everything
				}
			}
		}
	}()
	var once sync.Once
	return changes, func() { once.Do(func() { close(done) }) }
}

func hexID(id raft.NodeID) string {
	if id == raft.None {
		return ""
	}
	return fmt.Sprintf("%x", uint64(id))
}

func metricValue(metric prometheus.Metric) *dto.Metric {
	var value dto.Metric
	_ = metric.Write(&value) // counters and histograms never fail to write
	return &value
}
