// Package converge checks that a healed cluster's members agree: the same
// store revision, and the same HashKV (a hash of every key-value revision)
// at that revision.
package converge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
)

// pollInterval spaces the status rounds while members catch up.
const pollInterval = 200 * time.Millisecond

// callTimeout bounds one status or hash call.
const callTimeout = 5 * time.Second

// Check waits (until ctx ends) for every member that is not removed to
// report the same revision, then compares their HashKV at that revision.
// It returns the common revision, or an error describing the disagreement.
// No client may write meanwhile.
func Check(ctx context.Context, target *cluster.Cluster) (int64, error) {
	revision, err := commonRevision(ctx, target)
	if err != nil {
		return 0, err
	}
	type answer struct {
		hash            uint32
		compactRevision int64
	}
	var first *answer
	var report []string
	agree := true
	for _, member := range target.Present() {
		client, err := target.Client(member.Name)
		if err != nil {
			return 0, err
		}
		call, cancel := context.WithTimeout(ctx, callTimeout)
		response, err := client.HashKV(call, member.ClientURL, revision)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("converge: HashKV of %s at revision %d: %w", member.Name, revision, err)
		}
		current := &answer{hash: response.Hash, compactRevision: response.CompactRevision}
		report = append(report, fmt.Sprintf("%s: hash %08x (compact revision %d, hash revision %d)",
			member.Name, response.Hash, response.CompactRevision, response.HashRevision))
		if first == nil {
			first = current
		} else if current.hash != first.hash || current.compactRevision != first.compactRevision {
			agree = false
		}
	}
	if !agree {
		return revision, fmt.Errorf("converge: members disagree at revision %d: %s", revision, strings.Join(report, "; "))
	}
	return revision, nil
}

// commonRevision polls every member's status until all report the same
// revision.
func commonRevision(ctx context.Context, target *cluster.Cluster) (int64, error) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last string
	for {
		revisions := map[int64]bool{}
		var report []string
		var revision int64
		failed := false
		for _, member := range target.Present() {
			client, err := target.Client(member.Name)
			if err != nil {
				return 0, err
			}
			call, cancel := context.WithTimeout(ctx, callTimeout)
			status, err := client.Status(call, member.ClientURL)
			cancel()
			if err != nil {
				failed = true
				report = append(report, fmt.Sprintf("%s: %v", member.Name, err))
				continue
			}
			revision = status.Header.Revision
			revisions[revision] = true
			report = append(report, fmt.Sprintf("%s: revision %d", member.Name, revision))
		}
		if !failed && len(revisions) == 1 {
			return revision, nil
		}
		last = strings.Join(report, "; ")
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("converge: members never reached one revision (%s): %w", last, ctx.Err())
		case <-ticker.C:
		}
	}
}
