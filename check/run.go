package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
	"github.com/lockstepdb/lockstep/check/history"
)

// Bounds on the phases after the faulty period.
const (
	// healTimeout bounds healing every fault and waiting for every member
	// to serve linearizable reads again.
	healTimeout = 2 * time.Minute
	// recoveryPeriod is how long clients keep running on the healed
	// cluster, so the history shows it serving again.
	recoveryPeriod = 2 * time.Second
	// verificationTimeout bounds each of the final reads, the convergence
	// check and the wait for the watch stream to catch up.
	verificationTimeout = time.Minute
	// progressInterval spaces the progress lines.
	progressInterval = 10 * time.Second
)

// Run performs one checker run and returns its result. It returns an error
// only when the run could not take place (bad configuration, a cluster that
// would not start); everything found wrong during a run is in the Result.
// Every process it started is gone when it returns, also when ctx is
// cancelled (Result.Interrupted).
func Run(ctx context.Context, config Config) (Result, error) {
	config = config.WithDefaults()
	if err := config.Validate(); err != nil {
		return Result{}, err
	}
	progress := config.Progress
	if progress == nil {
		progress = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(config.Endpoints) == 0 {
		system, err := config.System.Resolve()
		if err != nil {
			return Result{}, err
		}
		config.System = system
	}
	workDirectory := config.WorkDirectory
	if workDirectory == "" {
		temporary, err := os.MkdirTemp("", "lockstep-check-")
		if err != nil {
			return Result{}, fmt.Errorf("check: %w", err)
		}
		defer os.RemoveAll(temporary)
		workDirectory = temporary
	}
	var unavailable []UnavailableFault
	if kinds, reason := config.disklessReason(); reason != "" {
		// Validate refused this unless unavailable faults may be dropped.
		unavailable = dropFaults(&config, kinds, reason, logger)
	}
	target, err := startOrAttach(ctx, config, workDirectory, logger)
	if errors.Is(err, cluster.ErrNoDisks) && config.DropUnavailableFaults {
		var kinds []fault.Kind
		for _, kind := range config.Faults {
			if kind.NeedsDisks() {
				kinds = append(kinds, kind)
			}
		}
		unavailable = append(unavailable, dropFaults(&config, kinds, err.Error(), logger)...)
		target, err = startOrAttach(ctx, config, workDirectory, logger)
	}
	if err != nil {
		return Result{}, err
	}
	defer target.Close()
	logger.Info("cluster ready", "members", len(target.Members()), "endpoints", target.Endpoints(),
		"seed", config.Seed, "faults", config.Faults, "duration", config.Duration)
	run := &run{config: config, cluster: target, clock: history.NewClock(), logger: logger,
		recorder: &history.Recorder{}, unavailable: unavailable}
	run.injector = fault.NewInjector(target, run.clock, logger)
	return run.execute(ctx)
}

func startOrAttach(ctx context.Context, config Config, directory string, logger *slog.Logger) (*cluster.Cluster, error) {
	if len(config.Endpoints) > 0 {
		return cluster.Attach(ctx, config.Endpoints, logger)
	}
	logger.Info("starting cluster", "system", config.System.Kind, "binary", config.System.Binary,
		"members", config.Members, "directory", directory)
	var diskBytes int64
	if config.needsDisks() {
		diskBytes = config.DiskBytes
	}
	return cluster.Start(ctx, cluster.Config{System: config.System, Size: config.Members,
		Directory: directory, DiskBytes: diskBytes, Logger: logger})
}

// dropFaults leaves kinds out of the run, saying why once, and returns
// them as unavailable.
func dropFaults(config *Config, kinds []fault.Kind, reason string, logger *slog.Logger) []UnavailableFault {
	*config = config.withoutFaults(kinds)
	var unavailable []UnavailableFault
	for _, kind := range kinds {
		logger.Warn("fault unavailable: left out of this run", "fault", kind, "reason", reason)
		unavailable = append(unavailable, UnavailableFault{Kind: kind, Reason: reason})
	}
	return unavailable
}

// logProgress reports the run's progress until ctx ends.
func (run *run) logProgress(ctx context.Context) {
	ticker := time.NewTicker(progressInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			run.logger.Info("progress", "elapsed", time.Duration(run.clock.Now()).Round(time.Second),
				"operations", run.recorder.Count(), "faults", run.injector.Injected())
		}
	}
}
