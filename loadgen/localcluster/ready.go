package localcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// pollInterval is the pace of the readiness checks.
const pollInterval = 100 * time.Millisecond

// waitForLeader polls every member's status until all report the same
// leader, a member exits, or timeout passes.
func (c *Cluster) waitForLeader(ctx context.Context, timeout time.Duration) error {
	client, err := clientv3.New(clientv3.Config{Endpoints: c.ClientEndpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	lastProblem := "no answer yet"
	for {
		for _, member := range c.members {
			select {
			case <-member.exited:
				excerpt := member.logExcerpt()
				problem := fmt.Errorf("%s exited before the cluster was ready (%v); its log %s:\n%s", member.Name, member.exitError, member.LogPath, excerpt)
				if strings.Contains(excerpt, "address already in use") {
					return fmt.Errorf("%w: %w", errPortTaken, problem)
				}
				return problem
			default:
			}
		}
		problem := c.leaderProblem(ctx, client)
		if problem == "" {
			return nil
		}
		lastProblem = problem
		select {
		case <-ctx.Done():
			return fmt.Errorf("no agreed leader within %v (%s); logs in %s", timeout, lastProblem, c.members[0].LogPath)
		case <-ticker.C:
		}
	}
}

// leaderProblem asks every member for its status and returns why the
// cluster is not ready, or "" when all agree on a leader that is a member.
func (c *Cluster) leaderProblem(ctx context.Context, client *clientv3.Client) string {
	var leader uint64
	members := map[uint64]bool{}
	for _, endpoint := range c.ClientEndpoints() {
		statusContext, cancel := context.WithTimeout(ctx, time.Second)
		status, err := client.Status(statusContext, endpoint)
		cancel()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", endpoint, err)
		case status.Leader == 0:
			return endpoint + " has no leader"
		case leader != 0 && status.Leader != leader:
			return fmt.Sprintf("%s follows %x, another member %x", endpoint, status.Leader, leader)
		}
		leader = status.Leader
		members[status.Header.GetMemberId()] = true
	}
	if !members[leader] {
		return fmt.Sprintf("the leader %x is not one of the members", leader)
	}
	return ""
}
