package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// attachTimeout bounds the member list call that discovers an attached
// cluster's members.
const attachTimeout = 10 * time.Second

// Attach describes a running cluster reachable at endpoints (client URLs
// of any of its members), discovering every member from the member list.
// The checker can read, write, transfer leadership and check convergence,
// but has no process or network control (ErrNotManaged).
func Attach(ctx context.Context, endpoints []string, logger *slog.Logger) (*Cluster, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("cluster: attach: no endpoints")
	}
	client, err := NewClient(endpoints...)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	listing, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	list, err := client.MemberList(listing)
	if err != nil {
		return nil, fmt.Errorf("cluster: attach to %v: member list: %w", endpoints, err)
	}
	cluster := newCluster(System{}, false, logger)
	for _, listed := range list.Members {
		if len(listed.ClientURLs) == 0 {
			continue // added but not started yet: nothing to talk to
		}
		member := &Member{Name: listed.Name, ClientURL: listed.ClientURLs[0], id: listed.ID}
		if len(listed.PeerURLs) > 0 {
			member.PeerURL = listed.PeerURLs[0]
		}
		cluster.members = append(cluster.members, member)
	}
	if len(cluster.members) == 0 {
		return nil, fmt.Errorf("cluster: attach to %v: no started members", endpoints)
	}
	return cluster, nil
}
