// Package converge checks that a healed cluster's members agree: the same
// store revision, and the same HashKV (a hash of every key-value revision)
// at that revision.
package converge

import (
	"context"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

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
	answers := askEach(ctx, target, func(call context.Context, client *clientv3.Client, member *cluster.Member) (*clientv3.HashKVResponse, error) {
		return client.HashKV(call, member.ClientURL, revision)
	})
	var report []string
	agree := true
	for _, answer := range answers {
		if answer.err != nil {
			return 0, fmt.Errorf("converge: HashKV of %s at revision %d: %w", answer.member.Name, revision, answer.err)
		}
		first, reply := answers[0].reply, answer.reply
		agree = agree && reply.Hash == first.Hash && reply.CompactRevision == first.CompactRevision
		report = append(report, fmt.Sprintf("%s: hash %08x (compact revision %d, hash revision %d)",
			answer.member.Name, reply.Hash, reply.CompactRevision, reply.HashRevision))
	}
	if !agree {
		return revision, fmt.Errorf("converge: members disagree at revision %d: %s", revision, strings.Join(report, "; "))
	}
	return revision, corruptAlarms(ctx, target)
}

// corruptAlarms returns an error if a member reports a CORRUPT alarm: the
// members' own corruption check (--corrupt-check-time) found their data
// different. Members whose hashes agree here must not have raised one.
func corruptAlarms(ctx context.Context, target *cluster.Cluster) error {
	answers := askEach(ctx, target, func(call context.Context, client *clientv3.Client, _ *cluster.Member) (*clientv3.AlarmResponse, error) {
		return client.AlarmList(call)
	})
	for _, answer := range answers {
		if answer.err != nil {
			return fmt.Errorf("converge: alarms of %s: %w", answer.member.Name, answer.err)
		}
		for _, alarm := range answer.reply.Alarms {
			if alarm.Alarm == pb.AlarmType_CORRUPT {
				return fmt.Errorf("converge: %s reports a CORRUPT alarm for member %x, though the members' hashes agree", answer.member.Name, alarm.MemberID)
			}
		}
	}
	return nil
}

// commonRevision polls every member's status until all report the same
// revision.
func commonRevision(ctx context.Context, target *cluster.Cluster) (int64, error) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		answers := askEach(ctx, target, func(call context.Context, client *clientv3.Client, member *cluster.Member) (*clientv3.StatusResponse, error) {
			return client.Status(call, member.ClientURL)
		})
		revisions := map[int64]bool{}
		var report []string
		failed := false
		for _, answer := range answers {
			if answer.err != nil {
				failed = true
				report = append(report, fmt.Sprintf("%s: %v", answer.member.Name, answer.err))
				continue
			}
			revisions[answer.reply.Header.Revision] = true
			report = append(report, fmt.Sprintf("%s: revision %d", answer.member.Name, answer.reply.Header.Revision))
		}
		if !failed && len(revisions) == 1 {
			return answers[0].reply.Header.Revision, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("converge: members never reached one revision (%s): %w", strings.Join(report, "; "), ctx.Err())
		case <-ticker.C:
		}
	}
}

// answer is one member's reply to a call, or why there is none.
type answer[Reply any] struct {
	member *cluster.Member
	reply  Reply
	err    error
}

// askEach makes a call, bounded by callTimeout, to every member that is
// not removed, through its own endpoint, and returns the answers in member
// order.
func askEach[Reply any](ctx context.Context, target *cluster.Cluster,
	call func(ctx context.Context, client *clientv3.Client, member *cluster.Member) (Reply, error)) []answer[Reply] {
	var answers []answer[Reply]
	for _, member := range target.Present() {
		result := answer[Reply]{member: member}
		client, err := target.Client(member.Name)
		if err == nil {
			bounded, cancel := context.WithTimeout(ctx, callTimeout)
			result.reply, err = call(bounded, client, member)
			cancel()
		}
		result.err = err
		answers = append(answers, result)
	}
	return answers
}
