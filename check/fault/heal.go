package fault

import (
	"context"
	"errors"
	"fmt"
)

// HealAll undoes whatever faults may still be in effect (lifts every
// partition, continues paused members, adds removed members back, starts
// stopped ones) and waits until every member serves linearizable reads.
// On an attached cluster it only waits.
func (injector *Injector) HealAll(ctx context.Context) error {
	target := injector.cluster
	if target.Managed() {
		target.Network().Heal()
		var errs []error
		errs = append(errs, target.ResumeAll())
		for _, member := range target.Members() {
			if member.Removed() {
				errs = append(errs, target.AddMember(ctx, member))
			}
		}
		errs = append(errs, target.StartStopped())
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("fault: heal: %w", err)
		}
	}
	if err := target.WaitHealthy(ctx); err != nil {
		return fmt.Errorf("fault: cluster did not recover after healing: %w", err)
	}
	return nil
}
