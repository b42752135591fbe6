package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// AutoCompaction is etcd's automatic compaction (--auto-compaction-mode and
// --auto-compaction-retention): the leader compacts the store's history by
// itself, so that it does not grow without bound when no client compacts
// it. At most one field is set; the zero value compacts nothing, as etcd's
// default does. Build it from the flags with ParseAutoCompaction.
type AutoCompaction struct {
	// Period (periodic mode) is how much history to keep, in time: the
	// leader notes the store's revision every tenth of min(Period, 1 h),
	// and every min(Period, 1 h), starting one Period after the member
	// started, it compacts to the oldest revision it noted within the last
	// Period and a tenth of an interval. So a read at a revision younger
	// than Period always succeeds. At most 10 years.
	Period time.Duration
	// Revisions (revision mode) is how many revisions to keep: every 5
	// minutes the leader compacts to the current revision less Revisions.
	Revisions int64
}

// Enabled reports whether the leader compacts by itself.
func (a AutoCompaction) Enabled() bool { return a.Period > 0 || a.Revisions > 0 }

// String names the policy as the flags would, for logs and --dry-run.
func (a AutoCompaction) String() string {
	switch {
	case a.Period > 0:
		return "periodic, keeping " + a.Period.String()
	case a.Revisions > 0:
		return fmt.Sprintf("revision, keeping %d revisions", a.Revisions)
	}
	return "off"
}

// Automatic compaction modes, etcd's values of --auto-compaction-mode.
const (
	AutoCompactionPeriodic = "periodic"
	AutoCompactionRevision = "revision"
)

// minimumAutoCompactionPeriod bounds the periodic mode from below: a
// shorter period would compact (a proposal through Raft, then removals on
// every member) several times a second. maximumAutoCompactionPeriod bounds
// it from above, and with it the revisions it notes (one every 6 minutes
// for a period above an hour: 876,000 at most).
const (
	minimumAutoCompactionPeriod = time.Second
	maximumAutoCompactionPeriod = 10 * 365 * 24 * time.Hour
)

// revisionCompactionInterval is how often the revision mode compacts, as
// etcd's.
const revisionCompactionInterval = 5 * time.Minute

// samplesPerInterval is how many times the periodic mode notes the
// revision between two compactions (etcd's retry divisor): the history
// kept is at most a tenth of an interval longer than the period.
const samplesPerInterval = 10

// ParseAutoCompaction reads etcd's two flags: mode is "periodic" or
// "revision"; retention "0" (etcd's default) or "" turns compaction off.
// In periodic mode, retention is a duration ("30m", "72h") or a whole
// number of hours ("1"), as etcd reads it; in revision mode, a number of
// revisions. Errors name the flag.
func ParseAutoCompaction(mode, retention string) (AutoCompaction, error) {
	if mode != AutoCompactionPeriodic && mode != AutoCompactionRevision {
		return AutoCompaction{}, fmt.Errorf("--auto-compaction-mode must be %s or %s, not %q", AutoCompactionPeriodic, AutoCompactionRevision, mode)
	}
	if retention == "" {
		return AutoCompaction{}, nil
	}
	if whole, err := strconv.ParseInt(retention, 10, 64); err == nil {
		switch {
		case whole < 0:
			return AutoCompaction{}, fmt.Errorf("--auto-compaction-retention must not be negative, got %s", retention)
		case mode == AutoCompactionRevision:
			return AutoCompaction{Revisions: whole}, nil
		case whole > int64(maximumAutoCompactionPeriod/time.Hour):
			return AutoCompaction{}, fmt.Errorf("--auto-compaction-retention %s hours is more than 10 years", retention)
		}
		return AutoCompaction{Period: time.Duration(whole) * time.Hour}.checked()
	}
	if mode == AutoCompactionRevision {
		return AutoCompaction{}, fmt.Errorf("--auto-compaction-retention %q: in revision mode it is a number of revisions to keep, such as 10000", retention)
	}
	period, err := time.ParseDuration(retention)
	if err != nil {
		return AutoCompaction{}, fmt.Errorf("--auto-compaction-retention %q: want a duration such as 30m or 12h, or a whole number of hours", retention)
	}
	return AutoCompaction{Period: period}.checked()
}

// checked returns a, or the error Validate would give for it.
func (a AutoCompaction) checked() (AutoCompaction, error) {
	if err := a.validate(); err != nil {
		return AutoCompaction{}, err
	}
	return a, nil
}

// validate reports what is wrong with a, in terms of the flags.
func (a AutoCompaction) validate() error {
	switch {
	case a.Period < 0 || a.Revisions < 0:
		return errors.New("--auto-compaction-retention must not be negative")
	case a.Period > 0 && a.Revisions > 0:
		return errors.New("auto compaction keeps either a period or a number of revisions, not both")
	case a.Period > 0 && a.Period < minimumAutoCompactionPeriod:
		return fmt.Errorf("--auto-compaction-retention must be at least %v in periodic mode, got %v", minimumAutoCompactionPeriod, a.Period)
	case a.Period > maximumAutoCompactionPeriod:
		return fmt.Errorf("--auto-compaction-retention must be at most %v (10 years) in periodic mode, got %v", maximumAutoCompactionPeriod, a.Period)
	}
	return nil
}

// autoCompactor runs one member's automatic compaction. Every member runs
// one, so that a member that becomes leader already knows the revisions of
// the past period; only the leader compacts, as in etcd. Its functions are
// the server's, replaced in tests.
type autoCompactor struct {
	policy AutoCompaction
	// revision returns the store's current and compacted revisions.
	revision func() (current, compacted int64)
	// leads reports whether this member leads now.
	leads func() bool
	// compact proposes a compaction to revision and waits for its answer.
	compact  func(revision int64) error
	log      *slog.Logger
	stopping <-chan struct{}
}

// autoCompactor returns the server's compactor for its configuration.
func (s *Server) autoCompactor() *autoCompactor {
	return &autoCompactor{
		policy:   s.config.AutoCompaction,
		revision: s.store.Revision,
		leads:    func() bool { return s.leader.Load() == uint64(s.id) },
		compact: func(revision int64) error {
			ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
			defer cancel()
			// No caller in ctx: the request carries no header, so
			// with auth enabled it is not checked, as the server's
			// own requests are not (kv's authorize).
			_, err := s.propose(ctx, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: revision}})
			return err
		},
		log:      s.log,
		stopping: s.stopping,
	}
}

// run compacts by the policy until the server stops; the goroutine of the
// server's automatic compaction.
func (c *autoCompactor) run() {
	switch {
	case c.policy.Period > 0:
		c.runPeriodic()
	case c.policy.Revisions > 0:
		c.runRevisions()
	}
}

// runPeriodic notes the current revision every sample interval, keeping
// those of the last period, and compacts to the oldest once a period has
// passed since it started (then an interval since the last compaction).
// A compaction that fails is tried again at the next sample.
func (c *autoCompactor) runPeriodic() {
	interval := min(c.policy.Period, time.Hour)
	sampleEvery := interval / samplesPerInterval
	// The oldest of keep samples, taken sampleEvery apart, was taken a
	// period before the next.
	keep := int(c.policy.Period/sampleEvery) + 1
	samples := make([]int64, 0, keep+1)
	wait := c.policy.Period
	compacted := int64(0)
	ticker := time.NewTicker(sampleEvery)
	defer ticker.Stop()
	// Waits are counted in ticks, by their times, so that the time a
	// compaction takes does not push the next one a sample later: since
	// is the start, then the tick of the last compaction, and half a
	// sample of slack absorbs the ticks' own jitter.
	since := time.Now()
	slack := sampleEvery / 2
	for {
		current, _ := c.revision()
		samples = append(samples, current)
		if len(samples) > keep {
			samples = append(samples[:0], samples[1:]...)
		}
		var tick time.Time
		select {
		case <-c.stopping:
			return
		case tick = <-ticker.C:
		}
		target := samples[0]
		if !c.leads() || tick.Sub(since) < wait-slack || target == compacted {
			continue
		}
		wait = interval
		if c.compactTo(target) {
			compacted = target
			since = tick
		}
	}
}

// runRevisions compacts, every revisionCompactionInterval, to the current
// revision less the revisions kept, if that moved since the last time.
func (c *autoCompactor) runRevisions() {
	ticker := time.NewTicker(revisionCompactionInterval)
	defer ticker.Stop()
	compacted := int64(0)
	for {
		select {
		case <-c.stopping:
			return
		case <-ticker.C:
		}
		current, _ := c.revision()
		target := current - c.policy.Revisions
		if !c.leads() || target <= 0 || target == compacted {
			continue
		}
		if c.compactTo(target) {
			compacted = target
		}
	}
}

// compactTo compacts the store to target unless it is compacted that far
// already, and reports whether it is now. A compaction answered
// ErrGRPCCompacted (another got there first) counts, as in etcd.
func (c *autoCompactor) compactTo(target int64) bool {
	if _, compacted := c.revision(); target <= compacted {
		return true
	}
	started := time.Now()
	err := c.compact(target)
	if err != nil && !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		c.log.Warn("auto compaction failed; will try again", "revision", target, "policy", c.policy.String(), "error", err)
		return false
	}
	c.log.Info("auto compaction", "revision", target, "policy", c.policy.String(), "took", time.Since(started))
	return true
}
