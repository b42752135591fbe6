package fault

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/history"
	"github.com/lockstepdb/lockstep/check/proxy"
)

// Event is one fault as it happened. Times are from the run's clock.
type Event struct {
	Kind        Kind   `json:"kind"`
	Description string `json:"description"`
	Start       int64  `json:"start_ns"`
	End         int64  `json:"end_ns"`
	// InjectError says why the fault could not be injected; such a fault
	// is not counted.
	InjectError string `json:"inject_error,omitempty"`
	// HealError says why healing it failed (the final heal retries).
	HealError string `json:"heal_error,omitempty"`
	// Observed is what the cluster was seen to do while the fault held,
	// for the faults that watch (a full disk: what the member reported,
	// how far the others committed).
	Observed string `json:"observed,omitempty"`
}

// Injected reports whether the fault took place.
func (event Event) Injected() bool { return event.InjectError == "" }

// injectTimeout bounds injecting one fault (a membership change the
// cluster keeps refusing, say): the fault is then recorded as not injected
// and the run goes on.
const injectTimeout = 30 * time.Second

// recoveryTimeout bounds the wait for a healthy cluster before the next
// fault, so faults do not pile up on a cluster still recovering.
const recoveryTimeout = 20 * time.Second

// Injector runs a schedule of faults against a cluster, one at a time, and
// records them. Run is called from one goroutine; Events may be read from
// any goroutine.
type Injector struct {
	cluster *cluster.Cluster
	clock   *history.Clock
	logger  *slog.Logger

	mutex  sync.Mutex
	events []Event
}

// NewInjector returns an injector for target; logger may be nil.
func NewInjector(target *cluster.Cluster, clock *history.Clock, logger *slog.Logger) *Injector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Injector{cluster: target, clock: clock, logger: logger}
}

// Events returns the faults so far, including ones that failed to inject.
func (injector *Injector) Events() []Event {
	injector.mutex.Lock()
	defer injector.mutex.Unlock()
	return append([]Event(nil), injector.events...)
}

// Injected returns how many faults took place.
func (injector *Injector) Injected() int {
	count := 0
	for _, event := range injector.Events() {
		if event.Injected() {
			count++
		}
	}
	return count
}

// Run injects faults from schedule until ctx ends. Each fault is held for
// its plan's duration (cut short when ctx ends) and healed with healCtx,
// which should outlive ctx so the last fault is healed too.
func (injector *Injector) Run(ctx, healCtx context.Context, schedule *Schedule) {
	for {
		plan := schedule.Next()
		if !sleep(ctx, plan.Quiet) {
			return
		}
		recovering, cancel := context.WithTimeout(ctx, recoveryTimeout)
		if err := injector.cluster.WaitHealthy(recovering); err != nil && ctx.Err() == nil {
			injector.logger.Warn("cluster not healthy before the next fault; injecting anyway", "error", err)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !injector.inject(ctx, healCtx, plan) && ctx.Err() == nil {
			schedule.Again(plan.Kind)
		}
	}
}

// KindCount is how many faults of one kind took place.
type KindCount struct {
	Kind  Kind
	Count int
}

// InjectedByKind counts the faults that took place, for each of kinds (in
// that order, zeros included, so a kind that never happened shows).
func (injector *Injector) InjectedByKind(kinds []Kind) []KindCount {
	counts := make([]KindCount, len(kinds))
	for i, kind := range kinds {
		counts[i].Kind = kind
	}
	for _, event := range injector.Events() {
		for i := range counts {
			if event.Injected() && event.Kind == counts[i].Kind {
				counts[i].Count++
			}
		}
	}
	return counts
}

// heal undoes one injected fault and returns what was observed while it
// held ("" if nothing was watched).
type heal func(ctx context.Context) (string, error)

// inject injects one fault, holds it and heals it; it reports whether the
// fault took place.
func (injector *Injector) inject(ctx, healCtx context.Context, plan Plan) bool {
	event := Event{Kind: plan.Kind, Start: injector.clock.Now()}
	injecting, cancel := context.WithTimeout(ctx, injectTimeout)
	description, undo, err := injector.begin(injecting, plan)
	cancel()
	event.Description = description
	if err != nil {
		event.InjectError = err.Error()
		event.End = injector.clock.Now()
		injector.logger.Warn("fault not injected", "fault", plan.Kind, "description", description, "error", err)
		injector.record(event)
		return false
	}
	injector.logger.Info("fault injected", "fault", plan.Kind, "description", description)
	sleep(ctx, plan.Hold)
	if undo != nil {
		observed, err := undo(healCtx)
		event.Observed = observed
		if err != nil {
			event.HealError = err.Error()
			injector.logger.Warn("fault not healed", "fault", plan.Kind, "error", err)
		}
	}
	event.End = injector.clock.Now()
	if event.Observed != "" {
		injector.logger.Info("fault healed", "fault", plan.Kind, "observed", event.Observed)
	} else {
		injector.logger.Info("fault healed", "fault", plan.Kind)
	}
	injector.record(event)
	return true
}

func (injector *Injector) record(event Event) {
	injector.mutex.Lock()
	defer injector.mutex.Unlock()
	injector.events = append(injector.events, event)
}

// begin injects the fault and returns its description and how to heal it.
func (injector *Injector) begin(ctx context.Context, plan Plan) (string, heal, error) {
	target := injector.cluster
	switch plan.Kind {
	case Kill:
		member, role := injector.target(ctx, plan)
		description := fmt.Sprintf("kill -9 %s%s, restart after %s", member.Name, role, plan.Hold.Round(time.Millisecond))
		if err := target.Kill(ctx, member); err != nil {
			return description, nil, err
		}
		return description, func(context.Context) (string, error) { return "", target.Restart(member) }, nil
	case Pause:
		member, role := injector.target(ctx, plan)
		description := fmt.Sprintf("pause (SIGSTOP) %s%s for %s", member.Name, role, plan.Hold.Round(time.Millisecond))
		if err := target.Pause(member); err != nil {
			return description, nil, err
		}
		return description, func(context.Context) (string, error) { return "", target.Resume(member) }, nil
	case Partition:
		return injector.partition(ctx, plan)
	case Member:
		member, role := injector.target(ctx, plan)
		description := fmt.Sprintf("remove %s%s, wipe its data, add it back after %s", member.Name, role, plan.Hold.Round(time.Millisecond))
		if err := target.RemoveMember(ctx, member); err != nil {
			return description, nil, err
		}
		return description, func(healCtx context.Context) (string, error) { return "", target.AddMember(healCtx, member) }, nil
	case Transfer:
		return injector.transfer(ctx, plan)
	case Restart:
		how := "SIGKILL"
		if plan.Graceful {
			how = "SIGTERM"
		}
		description := fmt.Sprintf("restart the whole cluster (%s), down for %s", how, plan.Hold.Round(time.Millisecond))
		if err := target.StopAll(ctx, plan.Graceful); err != nil {
			return description, nil, err
		}
		return description, func(context.Context) (string, error) { return "", target.StartStopped() }, nil
	case DiskFull:
		return injector.fillDisk(ctx, plan)
	}
	return string(plan.Kind), nil, fmt.Errorf("fault: unknown kind %q", plan.Kind)
}

// target picks the member a fault aims at: the leader if the plan says so
// and one is known, else a member by position.
func (injector *Injector) target(ctx context.Context, plan Plan) (*cluster.Member, string) {
	if plan.TargetLeader {
		if leader, err := injector.cluster.Leader(ctx); err == nil {
			return leader, " (leader)"
		}
	}
	members := injector.cluster.Present()
	return members[plan.TargetIndex%len(members)], ""
}

func (injector *Injector) partition(ctx context.Context, plan Plan) (string, heal, error) {
	var names []string
	for _, member := range injector.cluster.Present() {
		names = append(names, member.Name)
	}
	leader := names[plan.TargetIndex%len(names)]
	if member, err := injector.cluster.Leader(ctx); err == nil {
		leader = member.Name
	}
	mode := plan.Mode
	if !plan.Shape.isSymmetric() {
		mode = proxy.Stall
	}
	links, description := partitionLinks(plan.Shape, names, leader, plan.Choice)
	description = fmt.Sprintf("partition (%s, %s) for %s: %s", plan.Shape, mode, plan.Hold.Round(time.Millisecond), description)
	network := injector.cluster.Network()
	if !injector.cluster.Managed() {
		return description, nil, cluster.ErrNotManaged
	}
	if err := applyPartition(network, links, mode); err != nil {
		network.Heal()
		return description, nil, err
	}
	return description, func(context.Context) (string, error) { network.Heal(); return "", nil }, nil
}

func (injector *Injector) transfer(ctx context.Context, plan Plan) (string, heal, error) {
	leader, err := injector.cluster.Leader(ctx)
	if err != nil {
		return "transfer leadership", nil, err
	}
	members := injector.cluster.Present()
	to := members[plan.TargetIndex%len(members)]
	if to == leader {
		to = members[(plan.TargetIndex+1)%len(members)]
	}
	description := fmt.Sprintf("transfer leadership from %s to %s", leader.Name, to.Name)
	if to == leader {
		return description, nil, fmt.Errorf("fault: only one member, nobody to transfer to")
	}
	return description, nil, injector.cluster.MoveLeader(ctx, to)
}

// sleep waits for duration or until ctx ends; it reports whether the
// whole duration passed.
func sleep(ctx context.Context, duration time.Duration) bool {
	if duration <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(duration)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
