package web

import (
	"context"
	"strconv"
)

// MemberState is what the dashboard shows of one member, as sent to the
// page (JSON). IDs are hexadecimal strings, as etcdctl prints them.
type MemberState struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	// Up is false when the member is stopped or does not answer; Error
	// then says why and the Raft fields are zero.
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
	// Partitioned is true while lockstep dev cuts the member off.
	Partitioned bool `json:"partitioned,omitempty"`

	Role      string `json:"role,omitempty"`
	Term      uint64 `json:"term"`
	Vote      string `json:"vote,omitempty"`
	Leader    string `json:"leader,omitempty"`
	Commit    uint64 `json:"commit"`
	Applied   uint64 `json:"applied"`
	LastIndex uint64 `json:"lastIndex"`
	LastTerm  uint64 `json:"lastTerm"`
	// FirstIndex is the first index still in the log after compaction
	// (the index after the last snapshot); 0 when not known.
	FirstIndex uint64 `json:"firstIndex"`
	// Followers is the leader's view of the others; empty elsewhere.
	Followers []FollowerState `json:"followers,omitempty"`
	// Names are the names of the cluster's members as this member knows
	// them, by hexadecimal ID, so that a page showing one member (its own
	// dashboard) still names the leader, its vote and its followers.
	Names map[string]string `json:"names,omitempty"`

	// Counters since the member started; the page turns them into rates.
	Proposals           uint64  `json:"proposals"`
	WriteRequests       uint64  `json:"writeRequests"`
	WriteLatencySeconds float64 `json:"writeLatencySeconds"`
	// LogWrites and LogWriteSeconds count the durable writes of the Raft
	// log (append and fsync) and their total time.
	LogWrites       uint64  `json:"logWrites"`
	LogWriteSeconds float64 `json:"logWriteSeconds"`
}

// FormatID is how the dashboard writes a member ID: hexadecimal, as
// etcdctl prints it, and "" for 0 (no member, such as no leader known).
func FormatID(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 16)
}

// FollowerState is the leader's view of one follower.
type FollowerState struct {
	ID          string `json:"id"`
	Match       uint64 `json:"match"`
	Next        uint64 `json:"next"`
	Inflight    int    `json:"inflight"`
	Replicating bool   `json:"replicating"`
}

// Cluster is what the dashboard watches. Its methods are called from HTTP
// request goroutines, concurrently.
type Cluster interface {
	// Sample returns every member's state, in a stable order. It must
	// return within a short bound (use ctx) even when members are down.
	Sample(ctx context.Context) []MemberState
	// Watch returns a channel that receives (without blocking the
	// sender: it may be coalesced) whenever something changed — a leader
	// or membership change — and a function that ends the watch.
	Watch() (<-chan struct{}, func())
}

// Control acts on the cluster for the dashboard's buttons (lockstep dev).
// Calls come from HTTP request goroutines, concurrently.
type Control interface {
	// Act performs action ("stop", "restart", "partition", "heal" or
	// "transfer") on the named member (ignored by "heal"). An unknown
	// action or member is an error; so is an action that cannot apply.
	Act(ctx context.Context, action, member string) error
}
