package cluster

import (
	"context"
	"errors"
	"fmt"
)

// Kill sends SIGKILL to member's process group and waits for it to die.
func (cluster *Cluster) Kill(ctx context.Context, member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	return member.kill(ctx)
}

// Restart starts a stopped member again with the flags it last ran with;
// its data directory is kept.
func (cluster *Cluster) Restart(member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	if err := member.start(cluster.system); err != nil {
		return err
	}
	cluster.logger.Info("member restarted", "member", member.Name, "pid", member.PID())
	return nil
}

// Pause stops member's processes with SIGSTOP.
func (cluster *Cluster) Pause(member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	return member.pause()
}

// Resume continues a paused member with SIGCONT.
func (cluster *Cluster) Resume(member *Member) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	return member.resume()
}

// StopAll stops every running member: with SIGTERM (and a grace period)
// when graceful, else with SIGKILL, all at once.
func (cluster *Cluster) StopAll(ctx context.Context, graceful bool) error {
	if !cluster.managed {
		return ErrNotManaged
	}
	errs := make(chan error, len(cluster.members))
	for _, member := range cluster.members {
		go func() {
			if graceful {
				errs <- member.terminate(ctx)
			} else {
				errs <- member.kill(ctx)
			}
		}()
	}
	var all []error
	for range cluster.members {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// StartStopped starts every member that is neither running nor removed.
func (cluster *Cluster) StartStopped() error {
	if !cluster.managed {
		return ErrNotManaged
	}
	for _, member := range cluster.members {
		if member.Running() || member.Removed() {
			continue
		}
		if err := cluster.Restart(member); err != nil {
			return fmt.Errorf("cluster: start stopped members: %w", err)
		}
	}
	return nil
}

// ResumeAll continues every paused member.
func (cluster *Cluster) ResumeAll() error {
	if !cluster.managed {
		return ErrNotManaged
	}
	var errs []error
	for _, member := range cluster.members {
		if member.Paused() {
			errs = append(errs, member.resume())
		}
	}
	return errors.Join(errs...)
}
