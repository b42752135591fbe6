package cluster

import (
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// NewClient returns an etcd client for the given endpoints, quiet (its
// retry warnings would drown the checker's output) and quick to notice a
// dead or paused server. The caller closes it.
func NewClient(endpoints ...string) (*clientv3.Client, error) {
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: client for %v: %w", endpoints, err)
	}
	return client, nil
}

// client returns the cluster's shared client for one member's endpoint,
// used for status, maintenance and membership calls.
func (cluster *Cluster) client(member *Member) (*clientv3.Client, error) {
	cluster.clientsMutex.Lock()
	defer cluster.clientsMutex.Unlock()
	if client, ok := cluster.clients[member.ClientURL]; ok {
		return client, nil
	}
	client, err := NewClient(member.ClientURL)
	if err != nil {
		return nil, err
	}
	cluster.clients[member.ClientURL] = client
	return client, nil
}

// Client returns the cluster's shared client for member name's endpoint.
// The cluster closes it.
func (cluster *Cluster) Client(name string) (*clientv3.Client, error) {
	member := cluster.Member(name)
	if member == nil {
		return nil, fmt.Errorf("cluster: no member %q", name)
	}
	return cluster.client(member)
}
