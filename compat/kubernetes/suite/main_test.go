package suite

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/lockstepdb/lockstep/compat/kubernetes/cluster"
)

// deployment is the cluster the tests run against, read once by TestMain.
var deployment struct {
	system              cluster.System
	binary              string
	directory           string
	endpoints           []string
	progressEndpoints   []string
	progressUnavailable string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests takes the deployment from the environment, starting one first
// when none is given, runs the tests and stops what it started.
func runTests(m *testing.M) int {
	// gRPC's informational chatter about reconnections drowns the tests'
	// output; its errors still show.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr))
	// Ctrl-C stops the clusters this process started before it exits (the
	// kernel would kill them anyway when it dies: see the cluster package).
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		stopOwnClusters()
		os.Exit(2)
	}()
	defer stopOwnClusters()
	if os.Getenv(cluster.EnvironmentEndpoints) == "" {
		started, err := deployForThisRun()
		if err != nil {
			fmt.Fprintln(os.Stderr, "suite:", err)
			return 2
		}
		ownClusters.add(started.Stop)
		for _, variable := range started.Environment() {
			name, value, _ := strings.Cut(variable, "=")
			os.Setenv(name, value)
		}
	}
	system, err := cluster.LookupSystem(os.Getenv(cluster.EnvironmentSystem))
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 2
	}
	deployment.system = system
	deployment.binary = os.Getenv(cluster.EnvironmentBinary)
	deployment.directory = os.Getenv(cluster.EnvironmentDirectory)
	deployment.endpoints = splitEndpoints(os.Getenv(cluster.EnvironmentEndpoints))
	deployment.progressEndpoints = splitEndpoints(os.Getenv(cluster.EnvironmentProgressEndpoints))
	deployment.progressUnavailable = os.Getenv(cluster.EnvironmentProgressUnavailable)
	if deployment.progressEndpoints == nil && deployment.progressUnavailable == "" {
		deployment.progressUnavailable = "no " + cluster.EnvironmentProgressEndpoints + " given"
	}
	return m.Run()
}

// ownClusters holds how to stop what this process started.
var ownClusters stoppers

// stoppers is a concurrent-safe list of stop functions.
type stoppers struct {
	mutex sync.Mutex
	stops []func()
}

// add records stop.
func (s *stoppers) add(stop func()) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	s.stops = append(s.stops, stop)
}

// stopOwnClusters stops, newest first, every cluster this process started
// and still runs, and removes their run directory.
func stopOwnClusters() {
	ownClusters.mutex.Lock()
	defer ownClusters.mutex.Unlock()
	for index := len(ownClusters.stops) - 1; index >= 0; index-- {
		ownClusters.stops[index]()
	}
	ownClusters.stops = nil
}

// deployForThisRun starts the system named by $COMPAT_K8S_SYSTEM (etcd when
// unset), for a plain `go test` of this package.
func deployForThisRun() (*cluster.Deployment, error) {
	name := os.Getenv(cluster.EnvironmentSystem)
	if name == "" {
		name = "etcd"
	}
	system, err := cluster.LookupSystem(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := cluster.RepositoryRoot(".")
	if err != nil {
		return nil, err
	}
	// The run directory holds the clusters and the lockstep this run
	// builds; it is removed at the end, or by a later run if this one
	// crashes.
	directory, err := cluster.NewRunDirectory()
	if err != nil {
		return nil, err
	}
	ownClusters.add(func() { os.RemoveAll(directory) })
	var binary string
	switch {
	case system.Kind == cluster.Etcd:
		binary, err = cluster.EtcdBinary(ctx, "", root)
	case os.Getenv("LOCKSTEP_BINARY") != "":
		binary = os.Getenv("LOCKSTEP_BINARY")
	default:
		binary, err = cluster.BuildLockstep(ctx, root, directory)
	}
	if err != nil {
		return nil, err
	}
	return cluster.Deploy(ctx, system, binary, directory, false)
}

// splitEndpoints splits a comma-separated list; nil when empty.
func splitEndpoints(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}
