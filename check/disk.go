package check

import "fmt"

// crowdedDisk is the share of a member's own disk in use at the end of a
// run above which the checker warns: the default size (DiskBytesFor) is
// meant to leave room for the run, so that only the diskfull fault fills
// a disk.
const crowdedDisk = 0.75

// logDiskUse reports how much of each member's own disk is in use at the
// end of the run (nothing when members have none).
func (run *run) logDiskUse() {
	for _, member := range run.cluster.Members() {
		size := member.DiskBytes()
		if size == 0 {
			continue
		}
		used, err := member.DiskUse()
		if err != nil {
			run.logger.Warn("disk use unknown", "member", member.Name, "error", err)
			continue
		}
		share := float64(used) / float64(size)
		usage := fmt.Sprintf("%.1f of %d MiB (%.0f%%)", float64(used)/(1<<20), size>>20, 100*share)
		if share > crowdedDisk {
			run.logger.Warn("member's disk nearly full at the end of the run: give more with --disk-size-mib", "member", member.Name, "in use", usage)
		} else {
			run.logger.Info("member's disk at the end of the run", "member", member.Name, "in use", usage)
		}
	}
}
