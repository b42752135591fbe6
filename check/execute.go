package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/converge"
	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/check/history"
	"github.com/lockstepdb/lockstep/check/linearizability"
	"github.com/lockstepdb/lockstep/check/watch"
	"github.com/lockstepdb/lockstep/check/workload"
)

// run is the state of one checker run, driven by execute from one goroutine.
type run struct {
	config   Config
	cluster  *cluster.Cluster
	clock    *history.Clock
	logger   *slog.Logger
	recorder *history.Recorder
	injector *fault.Injector
	// unavailable are the requested faults left out of the run.
	unavailable []UnavailableFault

	prefix   string
	keys     []string
	problems []string
}

func (run *run) problem(format string, arguments ...any) {
	message := fmt.Sprintf(format, arguments...)
	run.logger.Error("problem", "detail", message)
	run.problems = append(run.problems, message)
}

func (run *run) execute(ctx context.Context) (Result, error) {
	run.prefix = "lockstep-check/"
	if !run.cluster.Managed() {
		// Someone else's cluster may hold keys from earlier runs.
		run.prefix = fmt.Sprintf("lockstep-check/%d-%d/", run.config.Seed, time.Now().UnixNano())
	}
	for index := range run.config.Keys {
		run.keys = append(run.keys, fmt.Sprintf("%skey-%d", run.prefix, index))
	}
	startRevision, err := run.currentRevision(ctx)
	if err != nil {
		return Result{}, err
	}
	watcher, err := watch.Start(run.cluster.Endpoints(), run.prefix, startRevision+1, run.clock)
	if err != nil {
		return Result{}, err
	}
	watcherStopped := false
	defer func() {
		if !watcherStopped {
			watcher.Stop()
		}
	}()

	run.underFaults(ctx)
	if ctx.Err() != nil {
		return run.interrupted(), nil
	}

	finalRevision, converged := run.verifyHealedCluster(ctx)
	run.logDiskUse()
	waitErr := errors.New("the store revision is unknown")
	if converged {
		waiting, cancel := context.WithTimeout(ctx, verificationTimeout)
		waitErr = watcher.WaitFor(waiting, finalRevision)
		cancel()
	}
	events, streamErrors, reopened := watcher.Stop()
	watcherStopped = true
	if ctx.Err() != nil {
		return run.interrupted(), nil
	}
	run.logger.Info("watch stream", "events", len(events), "reopened", reopened, "stream errors", len(streamErrors))
	for _, message := range streamErrors {
		run.logger.Warn("watch stream error", "error", message)
	}
	if converged && waitErr != nil {
		run.problem("watch: %v", waitErr)
	}
	streamProblems := watch.Verify(events, startRevision, finalRevision, run.cluster.Managed() && converged)
	for _, message := range streamProblems {
		run.problem("watch: %s", message)
	}
	complete := run.cluster.Managed() && converged && waitErr == nil && len(streamProblems) == 0
	operations := watch.Resolve(run.recorder.Operations(), events, complete)
	run.logResolution(operations)
	for _, message := range watch.CrossCheck(operations, events) {
		run.problem("watch disagrees with a client: %s", message)
	}
	for _, message := range run.cluster.UnexpectedExits() {
		run.problem("%s", message)
	}

	run.logger.Info("checking linearizability", "operations", len(operations), "timeout", run.config.CheckTimeout)
	started := time.Now()
	verdict, checked := linearizability.Check(operations, run.config.CheckTimeout)
	run.logger.Info("linearizability checked", "result", verdict, "took", time.Since(started).Round(time.Millisecond))
	result := run.faultCounts()
	result.Operations, result.Recorded, result.Linearizability, result.Problems = checked, len(operations), verdict, run.problems
	if verdict == porcupine.Illegal {
		result.FailingKeys = linearizability.FailingKeys(operations, run.config.CheckTimeout)
		run.logger.Error("not linearizable", "keys", result.FailingKeys)
	}
	if !result.Passed() {
		result.OutputDirectory = run.config.OutputDirectory
		if err := run.writeReport(result, operations, events); err != nil {
			run.logger.Error("could not write the failure report", "error", err)
			result.OutputDirectory = ""
		}
	}
	return result, nil
}

// currentRevision reads the store revision before the clients start.
func (run *run) currentRevision(ctx context.Context) (int64, error) {
	client, err := cluster.NewClient(run.cluster.Endpoints()...)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	reading, cancel := context.WithTimeout(ctx, verificationTimeout)
	defer cancel()
	response, err := client.Get(reading, run.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("check: read the starting revision: %w", err)
	}
	return response.Header.Revision, nil
}

// underFaults runs the clients for the configured duration while faults
// are injected, heals everything, lets the clients run a little longer on
// the healed cluster, and stops them.
func (run *run) underFaults(ctx context.Context) {
	faulty, stopFaults := context.WithTimeout(ctx, run.config.Duration)
	defer stopFaults()
	clients, stopClients := context.WithCancel(ctx)
	defer stopClients()
	clientsDone := make(chan error, 1)
	go func() {
		clientsDone <- workload.Run(clients, workload.Config{
			Clients: run.config.Clients, Endpoints: run.cluster.Endpoints(), Keys: run.keys,
			OperationTimeout: run.config.OperationTimeout, Seed: run.config.Seed,
			SerializableReads: run.config.SerializableReads,
		}, run.clock, run.recorder)
	}()
	go run.logProgress(faulty)

	if len(run.config.Faults) > 0 {
		run.injector.Run(faulty, ctx, fault.NewSchedule(run.config.Seed, run.config.Faults))
	}
	<-faulty.Done()
	if ctx.Err() == nil {
		healing, cancel := context.WithTimeout(ctx, healTimeout)
		if err := run.injector.HealAll(healing); err != nil {
			run.problem("%v", err)
		}
		cancel()
		run.logger.Info("healed; clients keep running on the healed cluster", "for", recoveryPeriod)
		timer := time.NewTimer(recoveryPeriod)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	stopClients()
	if err := <-clientsDone; err != nil {
		run.problem("clients: %v", err)
	}
}

// verifyHealedCluster reads every key through every member (recorded as
// final reads) and checks that the members converged to one revision and
// one HashKV. It returns that revision and whether they converged.
func (run *run) verifyHealedCluster(ctx context.Context) (int64, bool) {
	reading, cancel := context.WithTimeout(ctx, verificationTimeout)
	err := workload.FinalReads(reading, run.cluster.Endpoints(), run.keys, run.config.Clients,
		run.config.OperationTimeout, run.clock, run.recorder)
	cancel()
	if err != nil {
		run.problem("final reads: %v", err)
	}
	converging, cancel := context.WithTimeout(ctx, verificationTimeout)
	defer cancel()
	revision, err := converge.Check(converging, run.cluster)
	if err != nil {
		run.problem("%v", err)
		return revision, false
	}
	run.logger.Info("members converged", "revision", revision)
	return revision, true
}

// logResolution reports how the ambiguous writes were settled.
func (run *run) logResolution(operations []history.Operation) {
	applied, notApplied, unresolved := 0, 0, 0
	for _, operation := range operations {
		switch {
		case operation.Outcome == history.Ambiguous:
			unresolved++
		case operation.Resolution != "" && operation.Outcome == history.Ok:
			applied++
		case operation.Resolution != "":
			notApplied++
		}
	}
	run.logger.Info("ambiguous writes", "applied", applied, "not applied", notApplied, "unresolved", unresolved)
}

func (run *run) interrupted() Result {
	result := run.faultCounts()
	result.Recorded, result.Interrupted, result.Problems = run.recorder.Count(), true, run.problems
	return result
}

// faultCounts returns a Result with the faults filled in.
func (run *run) faultCounts() Result {
	return Result{Faults: run.injector.Injected(), FaultsByKind: run.injector.InjectedByKind(run.config.Faults),
		Unavailable: run.unavailable, FaultEvents: run.injector.Events()}
}
