package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ClientConfig loads the client TLS configuration the files name, or returns
// nil when none is given.
func (files TLSFiles) ClientConfig() (*tls.Config, error) {
	if files == (TLSFiles{}) {
		return nil, nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if files.CACert != "" {
		pem, err := os.ReadFile(files.CACert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", files.CACert)
		}
		config.RootCAs = pool
	}
	if files.Cert != "" {
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

// newClient connects a clientv3 client to endpoints, authenticated as
// user ("name:password", empty for none). The connection is made lazily
// by gRPC; the first request waits for it.
func newClient(endpoints []string, tlsConfig *tls.Config, dialTimeout time.Duration, user string) (*clientv3.Client, error) {
	name, password, _ := strings.Cut(user, ":")
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		TLS:         tlsConfig,
		Username:    name,
		Password:    password,
		// The client would otherwise log every retry on stderr, over
		// the progress bar; errors are counted and reported instead.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", strings.Join(endpoints, ","), err)
	}
	return client, nil
}

// endpointStatus is what one endpoint answered to Maintenance.Status.
type endpointStatus struct {
	endpoint string
	response *clientv3.StatusResponse
	err      error
}

// probeEndpoints asks every endpoint for its status, concurrently, each
// within timeout, as user (a server with auth enabled answers Status to
// users only). It returns the statuses in endpoint order.
func probeEndpoints(ctx context.Context, endpoints []string, tlsConfig *tls.Config, timeout time.Duration, user string) []endpointStatus {
	statuses := make([]endpointStatus, len(endpoints))
	var group sync.WaitGroup
	for i, endpoint := range endpoints {
		group.Add(1)
		go func() {
			defer group.Done()
			statuses[i] = probeEndpoint(ctx, endpoint, tlsConfig, timeout, user)
		}()
	}
	group.Wait()
	return statuses
}

func probeEndpoint(ctx context.Context, endpoint string, tlsConfig *tls.Config, timeout time.Duration, user string) endpointStatus {
	result := endpointStatus{endpoint: endpoint}
	client, err := newClient([]string{endpoint}, tlsConfig, timeout, user)
	if err != nil {
		result.err = err
		return result
	}
	defer client.Close()
	probeContext, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	result.response, result.err = client.Status(probeContext, endpoint)
	if errors.Is(result.err, context.DeadlineExceeded) {
		result.err = fmt.Errorf("no answer within %v", timeout)
	}
	return result
}

// chooseEndpoints returns the endpoints to send load to: those that
// answered, or only the leader with targetLeader; and those that did not
// answer. It fails when none answered, or when targetLeader is set and no
// endpoint that answered is the leader.
func chooseEndpoints(statuses []endpointStatus, targetLeader bool) (use, unreachable []string, err error) {
	var problems []error
	var leaderID uint64
	for _, status := range statuses {
		if status.err != nil {
			unreachable = append(unreachable, status.endpoint)
			problems = append(problems, fmt.Errorf("%s: %w", status.endpoint, status.err))
			continue
		}
		use = append(use, status.endpoint)
		if status.response.Leader != 0 {
			leaderID = status.response.Leader
		}
		if targetLeader && status.response.Leader != 0 && status.response.Leader == status.response.Header.GetMemberId() {
			return []string{status.endpoint}, unreachable, nil
		}
	}
	if len(use) == 0 {
		return nil, unreachable, fmt.Errorf("none of the endpoints answered Maintenance.Status: %w", errors.Join(problems...))
	}
	if targetLeader {
		if leaderID == 0 {
			return nil, unreachable, fmt.Errorf("--target-leader: no endpoint knows a leader (the cluster has none right now)")
		}
		return nil, unreachable, fmt.Errorf("--target-leader: the leader (member %x) is not among the endpoints that answered (%s)", leaderID, strings.Join(use, ","))
	}
	return use, unreachable, nil
}

// connectionPool holds the run's clients: connection i talks to endpoint
// i mod len(endpoints), and worker w uses connection w mod len(clients).
type connectionPool struct {
	clients []*clientv3.Client
}

func openConnections(config Config, endpoints []string, tlsConfig *tls.Config) (*connectionPool, error) {
	pool := &connectionPool{}
	for i := range config.Connections {
		client, err := newClient([]string{endpoints[i%len(endpoints)]}, tlsConfig, config.DialTimeout, config.User)
		if err != nil {
			pool.close()
			return nil, err
		}
		pool.clients = append(pool.clients, client)
	}
	return pool, nil
}

// forWorker returns the client worker w uses.
func (p *connectionPool) forWorker(w int) *clientv3.Client { return p.clients[w%len(p.clients)] }

func (p *connectionPool) close() {
	for _, client := range p.clients {
		client.Close()
	}
}
