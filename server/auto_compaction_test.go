package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// compactorWorld is what an autoCompactor sees, run in a synctest bubble:
// a store whose revision grows perMinute every minute from 1 (unless
// frozen), a leadership that the test sets, and a record of the
// compactions proposed.
type compactorWorld struct {
	started   time.Time
	perMinute int64

	mu        sync.Mutex
	leads     bool
	compacted int64
	// answers, while not empty, are what the next proposals get.
	answers []error
	// delay is how long each proposal takes.
	delay time.Duration
	calls []compactionCall
}

// compactionCall is one proposal: when (since the start) and to which
// revision, and whether it succeeded.
type compactionCall struct {
	at        time.Duration
	revision  int64
	succeeded bool
}

// revisionAt is the store's revision at elapsed since the start.
func (w *compactorWorld) revisionAt(elapsed time.Duration) int64 {
	return 1 + w.perMinute*int64(elapsed/time.Minute)
}

// start runs a compactor with policy in the bubble until the returned
// function stops it (and waits for it).
func (w *compactorWorld) start(policy AutoCompaction) (stop func()) {
	w.started = time.Now()
	stopping := make(chan struct{})
	compactor := &autoCompactor{
		policy: policy,
		revision: func() (int64, int64) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.revisionAt(time.Since(w.started)), w.compacted
		},
		leads: func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.leads
		},
		compact: func(revision int64) error {
			at := time.Since(w.started)
			time.Sleep(w.delay)
			w.mu.Lock()
			defer w.mu.Unlock()
			var err error
			if len(w.answers) > 0 {
				err, w.answers = w.answers[0], w.answers[1:]
			}
			w.calls = append(w.calls, compactionCall{at: at, revision: revision, succeeded: err == nil})
			if err == nil {
				w.compacted = max(w.compacted, revision)
			}
			return err
		},
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		stopping: stopping,
	}
	done := make(chan struct{})
	go func() {
		compactor.run()
		close(done)
	}()
	return func() {
		close(stopping)
		<-done
	}
}

// runFor runs a compactor with policy for duration of the bubble's time.
func (w *compactorWorld) runFor(policy AutoCompaction, duration time.Duration) {
	stop := w.start(policy)
	time.Sleep(duration)
	stop()
}

// setLeads changes the member's leadership.
func (w *compactorWorld) setLeads(leads bool) {
	w.mu.Lock()
	w.leads = leads
	w.mu.Unlock()
}

// times returns when the proposals were made.
func (w *compactorWorld) times() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var times []time.Duration
	for _, call := range w.calls {
		times = append(times, call.at)
	}
	return times
}

// minutes turns a list of minutes into durations.
func minutes(list ...int) []time.Duration {
	var durations []time.Duration
	for _, m := range list {
		durations = append(durations, time.Duration(m)*time.Minute)
	}
	return durations
}

// checkKeepsPeriod checks that every compaction kept at least the period's
// history, and at most a sample interval more.
func (w *compactorWorld) checkKeepsPeriod(t *testing.T, period time.Duration) {
	t.Helper()
	sample := min(period, time.Hour) / samplesPerInterval
	for _, call := range w.calls {
		newest, oldest := w.revisionAt(call.at-period), w.revisionAt(call.at-period-sample)
		if call.revision > newest || call.revision < oldest {
			t.Errorf("at %v compacted to %d: want the revision of one period ago, %d..%d", call.at, call.revision, oldest, newest)
		}
	}
}

// TestPeriodicAutoCompactionKeepsOnePeriod: with a 10-minute period the
// leader compacts every 10 minutes from the 10th, each time to the
// revision it noted about 10 minutes before: never younger.
func TestPeriodicAutoCompactionKeepsOnePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 7, leads: true}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 65*time.Minute)
		if got, want := world.times(), minutes(10, 20, 30, 40, 50, 60); !slices.Equal(got, want) {
			t.Errorf("compacted at %v, want %v", got, want)
		}
		world.checkKeepsPeriod(t, 10*time.Minute)
	})
}

// TestPeriodicAutoCompactionKeepsItsCadence: a compaction that takes time
// (a proposal through a busy cluster) does not push the next one a
// sample later.
func TestPeriodicAutoCompactionKeepsItsCadence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 4, leads: true, delay: 40 * time.Second}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 45*time.Minute)
		if got, want := world.times(), minutes(10, 20, 30, 40); !slices.Equal(got, want) {
			t.Errorf("compacted at %v, want %v", got, want)
		}
	})
}

// TestPeriodicAutoCompactionOfLongPeriodsRunsHourly: with a 3-hour period
// the first compaction comes after 3 hours, then one every hour, each
// keeping 3 hours of history (etcd's rule for periods above an hour).
func TestPeriodicAutoCompactionOfLongPeriodsRunsHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 3, leads: true}
		world.runFor(AutoCompaction{Period: 3 * time.Hour}, 5*time.Hour+30*time.Minute)
		if got, want := world.times(), minutes(180, 240, 300); !slices.Equal(got, want) {
			t.Errorf("compacted at %v, want %v", got, want)
		}
		world.checkKeepsPeriod(t, 3*time.Hour)
	})
}

// TestAutoCompactionOnlyOnTheLeader: a follower compacts nothing but keeps
// noting revisions, so that once it leads it compacts at once to the
// revision of one period ago, without waiting another period.
func TestAutoCompactionOnlyOnTheLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 5}
		stop := world.start(AutoCompaction{Period: 10 * time.Minute})
		time.Sleep(29*time.Minute + 30*time.Second)
		if calls := world.times(); len(calls) != 0 {
			t.Fatalf("a follower compacted at %v", calls)
		}
		world.setLeads(true)
		time.Sleep(11 * time.Minute)
		stop()
		if got, want := world.times(), minutes(30, 40); !slices.Equal(got, want) {
			t.Errorf("compacted at %v, want %v", got, want)
		}
		world.checkKeepsPeriod(t, 10*time.Minute)
	})
}

// TestAutoCompactionRetriesAtTheNextSample: a failed compaction (no leader
// for a moment) is tried again a sample interval later, not an interval.
func TestAutoCompactionRetriesAtTheNextSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 2, leads: true, answers: []error{rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCTimeout}}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 25*time.Minute)
		if got, want := world.times(), minutes(10, 11, 12, 22); !slices.Equal(got, want) {
			t.Errorf("proposed at %v, want %v", got, want)
		}
		world.checkKeepsPeriod(t, 10*time.Minute)
	})
}

// TestAutoCompactionTakesCompactedAsDone: a compaction answered "already
// compacted" is not retried, as in etcd; nor is one the store has already
// passed (a client compacted further) proposed at all.
func TestAutoCompactionTakesCompactedAsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 2, leads: true, answers: []error{rpctypes.ErrGRPCCompacted}}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 25*time.Minute)
		if got, want := world.times(), minutes(10, 20); !slices.Equal(got, want) {
			t.Errorf("proposed at %v, want %v", got, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 2, leads: true, compacted: 1 << 40}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 25*time.Minute)
		if calls := world.times(); len(calls) != 0 {
			t.Errorf("proposed at %v a compaction the store had passed", calls)
		}
	})
}

// TestAutoCompactionWithoutWritesProposesNothingNew: when the revision does
// not move, the revision of a period ago is the one already compacted to.
func TestAutoCompactionWithoutWritesProposesNothingNew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 0, leads: true}
		world.runFor(AutoCompaction{Period: 10 * time.Minute}, 65*time.Minute)
		if got, want := world.times(), minutes(10); !slices.Equal(got, want) {
			t.Errorf("proposed at %v, want %v", got, want)
		}
	})
}

// TestRevisionAutoCompactionKeepsRevisions: in revision mode the leader
// compacts every 5 minutes to the current revision less those kept, and
// only once the store has more than that; a follower never does.
func TestRevisionAutoCompactionKeepsRevisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 30, leads: true}
		world.runFor(AutoCompaction{Revisions: 200}, 21*time.Minute)
		if got, want := world.times(), minutes(10, 15, 20); !slices.Equal(got, want) {
			t.Errorf("compacted at %v, want %v", got, want)
		}
		for _, call := range world.calls {
			if want := world.revisionAt(call.at) - 200; call.revision != want {
				t.Errorf("at %v compacted to %d, want %d", call.at, call.revision, want)
			}
		}
	})
	synctest.Test(t, func(t *testing.T) {
		world := &compactorWorld{perMinute: 30}
		world.runFor(AutoCompaction{Revisions: 200}, 21*time.Minute)
		if calls := world.times(); len(calls) != 0 {
			t.Errorf("a follower compacted at %v", calls)
		}
	})
}

// TestParseAutoCompaction reads etcd's flag values as etcd does, and
// refuses the rest with the flag's name.
func TestParseAutoCompaction(t *testing.T) {
	for _, test := range []struct {
		mode, retention string
		want            AutoCompaction
		err             string
	}{
		{mode: "periodic", retention: "0"},
		{mode: "periodic", retention: ""},
		{mode: "revision", retention: "0"},
		{mode: "periodic", retention: "1", want: AutoCompaction{Period: time.Hour}},
		{mode: "periodic", retention: "72", want: AutoCompaction{Period: 72 * time.Hour}},
		{mode: "periodic", retention: "30m", want: AutoCompaction{Period: 30 * time.Minute}},
		{mode: "periodic", retention: "1s", want: AutoCompaction{Period: time.Second}},
		{mode: "revision", retention: "10000", want: AutoCompaction{Revisions: 10000}},
		{mode: "periodic", retention: "100ms", err: "at least 1s"},
		{mode: "periodic", retention: "-1", err: "must not be negative"},
		{mode: "periodic", retention: "-5m", err: "must not be negative"},
		{mode: "revision", retention: "-3", err: "must not be negative"},
		{mode: "periodic", retention: "soon", err: "want a duration"},
		{mode: "revision", retention: "10m", err: "number of revisions"},
		{mode: "periodic", retention: "9999999999", err: "more than 10 years"},
		{mode: "periodic", retention: "87601h", err: "at most"},
		{mode: "periodic", retention: "87600", want: AutoCompaction{Period: 87600 * time.Hour}},
		{mode: "hourly", retention: "1", err: "--auto-compaction-mode must be periodic or revision"},
		{mode: "", retention: "1", err: "--auto-compaction-mode must be"},
	} {
		got, err := ParseAutoCompaction(test.mode, test.retention)
		switch {
		case test.err == "" && err != nil:
			t.Errorf("ParseAutoCompaction(%q, %q): %v", test.mode, test.retention, err)
		case test.err != "" && (err == nil || !strings.Contains(err.Error(), test.err)):
			t.Errorf("ParseAutoCompaction(%q, %q) = %v, %v; want an error with %q", test.mode, test.retention, got, err, test.err)
		case got != test.want:
			t.Errorf("ParseAutoCompaction(%q, %q) = %+v, want %+v", test.mode, test.retention, got, test.want)
		}
	}
}

// TestConfigValidatesAutoCompaction: a configuration built in code gets
// the same checks as the flags.
func TestConfigValidatesAutoCompaction(t *testing.T) {
	base := Config{Name: "a", DataDirectory: t.TempDir(), ListenClientURLs: []string{"http://127.0.0.1:1"}, ListenPeerURLs: []string{"http://127.0.0.1:2"},
		InitialCluster: map[string][]string{"a": {"http://127.0.0.1:2"}}}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []AutoCompaction{{Period: -time.Minute}, {Revisions: -1}, {Period: time.Hour, Revisions: 5}, {Period: time.Millisecond}} {
		config := base
		config.AutoCompaction = policy
		if err := config.Validate(); err == nil {
			t.Errorf("Validate accepted auto compaction %+v", policy)
		}
	}
}

// TestAutoCompactionCompactsAClusterWithAuth: three members with a
// one-second period and auth enabled. The leader's compactions pass the
// permission checks (they are the server's own requests), every member
// ends compacted past the writes, and a read below that revision is
// refused as etcd refuses it while the current values stay.
func TestAutoCompactionCompactsAClusterWithAuth(t *testing.T) {
	cluster := startCluster(t, 3, func(config *Config) { config.AutoCompaction = AutoCompaction{Period: time.Second} })
	ctx := testContext(t)
	admin := cluster.client()
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "secret"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: cluster.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(), Username: "root", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var last int64
	for i := range 20 {
		response, err := client.Put(ctx, fmt.Sprintf("key-%d", i%4), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = response.Header.Revision
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, member := range cluster.members {
		for {
			if _, compacted := member.store.Revision(); compacted >= last {
				break
			}
			if time.Now().After(deadline) {
				_, compacted := member.store.Revision()
				t.Fatalf("member %d compacted to %d within 30 s, want at least %d", i, compacted, last)
			}
			time.Sleep(testHeartbeat) // polling real members, bounded by the deadline
		}
	}
	if _, err := client.Get(ctx, "key-0", clientv3.WithRev(last-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("a read below the auto compaction: %v, want %v", err, rpctypes.ErrCompacted)
	}
	got, err := client.Get(ctx, "key-", clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 4 || string(got.Kvs[3].Value) != "19" {
		t.Errorf("the current values after auto compaction: %v %v", got, err)
	}
}
