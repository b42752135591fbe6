package fault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
)

// diskWatchInterval spaces the status probes of a member whose disk is
// full.
const diskWatchInterval = 250 * time.Millisecond

// fillDisk fills the target member's disk and returns how to release it;
// the heal reports what the member said about its disk while it was full
// and how far the other members committed meanwhile.
func (injector *Injector) fillDisk(ctx context.Context, plan Plan) (string, heal, error) {
	target := injector.cluster
	member, role := injector.target(ctx, plan)
	description := fmt.Sprintf("fill %s%s's disk (a %d MiB tmpfs) for %s", member.Name, role, member.DiskBytes()>>20, plan.Hold.Round(time.Millisecond))
	if !target.Managed() {
		return description, nil, cluster.ErrNotManaged
	}
	othersBefore := injector.othersRevision(ctx, member)
	filler, err := target.FillDisk(member)
	if err != nil {
		return description, nil, err
	}
	description += fmt.Sprintf(", %d bytes left free", filler.Left)
	watch := injector.watchDisk(member, filler)
	return description, func(healCtx context.Context) (string, error) {
		reported := watch.stop()
		observed := fmt.Sprintf("%s reported %s", member.Name, reported)
		if othersAfter := injector.othersRevision(healCtx, member); othersBefore > 0 && othersAfter > 0 {
			observed += fmt.Sprintf("; the others committed from revision %d to %d", othersBefore, othersAfter)
		}
		return observed, filler.Release()
	}, nil
}

// othersRevision returns the highest store revision the members other
// than except report (0 if none answers).
func (injector *Injector) othersRevision(ctx context.Context, except *cluster.Member) int64 {
	var highest int64
	for _, member := range injector.cluster.Present() {
		if member == except || !member.Running() || member.Paused() {
			continue
		}
		if status, err := injector.cluster.Status(ctx, member); err == nil {
			highest = max(highest, status.Header.Revision)
		}
	}
	return highest
}

// diskWatch polls a member's status while its disk is full and remembers
// when it first reported each disk error ("DISK FULL", "RAFT LOG DISK
// FULL", "STORAGE FAILED"); it also tops the filler up, so that space the
// member frees meanwhile is taken back.
type diskWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mutex sync.Mutex
	first []string // "DISK FULL after 1.2s", in the order first seen
	seen  map[string]bool
}

func (injector *Injector) watchDisk(member *cluster.Member, filler *cluster.Filler) *diskWatch {
	ctx, cancel := context.WithCancel(context.Background())
	watch := &diskWatch{cancel: cancel, done: make(chan struct{}), seen: map[string]bool{}}
	started := time.Now()
	go func() {
		defer close(watch.done)
		ticker := time.NewTicker(diskWatchInterval)
		defer ticker.Stop()
		for {
			if err := filler.TopUp(); err != nil {
				injector.logger.Warn("could not keep the disk full", "member", member.Name, "error", err)
			}
			if status, err := injector.cluster.Status(ctx, member); err == nil {
				for _, message := range status.Errors {
					watch.note(diskErrorKind(message), time.Since(started))
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return watch
}

func (watch *diskWatch) note(kind string, after time.Duration) {
	watch.mutex.Lock()
	defer watch.mutex.Unlock()
	if kind != "" && !watch.seen[kind] {
		watch.seen[kind] = true
		watch.first = append(watch.first, fmt.Sprintf("%s after %s", kind, after.Round(100*time.Millisecond)))
	}
}

// stop ends the polling and says what was reported.
func (watch *diskWatch) stop() string {
	watch.cancel()
	<-watch.done
	watch.mutex.Lock()
	defer watch.mutex.Unlock()
	if len(watch.first) == 0 {
		return "no disk error"
	}
	return strings.Join(watch.first, ", ")
}

// diskErrorKinds are the disk states a lockstep member's Status lists
// under errors, as "memberID:<id> <state>: <cause>"; longest first, as
// one contains another.
var diskErrorKinds = []string{"RAFT LOG DISK FULL", "DISK FULL", "STORAGE FAILED"}

// diskErrorKind returns which disk state a Status error names, or "".
func diskErrorKind(message string) string {
	for _, kind := range diskErrorKinds {
		if strings.Contains(message, " "+kind+": ") {
			return kind
		}
	}
	return ""
}
