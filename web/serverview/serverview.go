// Package serverview is the dashboard's adapter to a lockstep server: it
// reads a member (package server) through the server's own accessors and
// turns it into what package web shows, and it mounts the dashboard on the
// member's admin listeners. It lives beside web, above server, so that the
// server knows nothing of the pages that show it.
package serverview

import (
	"context"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/web"
)

// Mount serves member's own live dashboard (read-only, this member alone)
// at web.Prefix on every admin listener of member (Config.ListenMetricsURLs),
// as lockstep serve does. Call it once per started member.
func Mount(member *server.Server) {
	member.AdminHandler().Handle(web.Prefix, web.Handler(web.Options{Cluster: single{member}}))
}

// State is member's state as the dashboard shows it. Called from any
// goroutine; bounded by ctx (a stopped member reports Up false, with the
// reason in Error).
func State(ctx context.Context, member *server.Server) web.MemberState {
	state := web.MemberState{Name: member.Name(), ID: web.FormatID(member.ID())}
	status, err := member.Node().Status(ctx)
	if err != nil {
		state.Error = err.Error()
		return state
	}
	state.Up = true
	state.Role = status.Role.String()
	state.Term, state.Commit, state.Applied = status.Term, status.Commit, status.Applied
	state.FirstIndex, state.LastIndex, state.LastTerm = status.FirstIndex, status.LastIndex, status.LastTerm
	state.Vote, state.Leader = formatID(status.Vote), formatID(status.Leader)
	for _, id := range slices.Concat(status.Membership.Voters, status.Membership.Learners) {
		if follower, ok := status.Followers[id]; ok {
			state.Followers = append(state.Followers, web.FollowerState{
				ID: formatID(id), Match: follower.Match, Next: follower.Next, Inflight: follower.Inflight, Replicating: follower.Replicating,
			})
		}
	}
	for id, name := range member.MemberNames() {
		if state.Names == nil {
			state.Names = map[string]string{}
		}
		state.Names[web.FormatID(id)] = name
	}
	activity := member.Activity()
	state.Proposals = activity.Proposals
	state.WriteRequests, state.WriteLatencySeconds = activity.WriteRequests, activity.WriteLatencySeconds
	state.LogWrites, state.LogWriteSeconds = activity.LogWrites, activity.LogWriteSeconds
	return state
}

func formatID(id raft.NodeID) string { return web.FormatID(uint64(id)) }

// single is the dashboard's view of one member: web.Cluster over it alone.
type single struct{ member *server.Server }

// Sample implements web.Cluster.
func (s single) Sample(ctx context.Context) []web.MemberState {
	return []web.MemberState{State(ctx, s.member)}
}

// Watch implements web.Cluster with the member's change signals.
func (s single) Watch() (<-chan struct{}, func()) { return s.member.WatchChanges() }
