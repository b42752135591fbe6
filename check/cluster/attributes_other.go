//go:build !linux

package cluster

import "syscall"

// processAttributes puts a member in its own process group, so signals
// reach all of it.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
