package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// processSwitches returns how many times the threads of process pid have
// been switched out so far, voluntarily (to sleep: waiting for a lock, a
// socket, a disk, or parked by Go's scheduler) or not (preempted). Each
// costs a sleep and a wake; at low load they, not the work, are most of a
// server's CPU on a virtual machine. Threads that have ended are not
// counted, so a window's figure can only undercount.
func processSwitches(pid int) (uint64, error) {
	statuses, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		return 0, err
	}
	if len(statuses) == 0 {
		return 0, fmt.Errorf("process %d: no threads under /proc", pid)
	}
	var total uint64
	for _, path := range statuses {
		content, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended between the listing and the read
			}
			return 0, err
		}
		switches, err := parseSwitches(string(content))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		total += switches
	}
	return total, nil
}

// parseSwitches adds voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// of a /proc/PID/task/TID/status file.
func parseSwitches(status string) (uint64, error) {
	var total uint64
	found := 0
	for line := range strings.Lines(status) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "voluntary_ctxt_switches" && key != "nonvoluntary_ctxt_switches") {
			continue
		}
		count, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not a count", key, strings.TrimSpace(value))
		}
		total += count
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("no voluntary_ctxt_switches and nonvoluntary_ctxt_switches lines")
	}
	return total, nil
}
