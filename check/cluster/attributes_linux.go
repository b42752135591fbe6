package cluster

import "syscall"

// processAttributes puts a member in its own process group (so signals
// reach all of it) and has the kernel kill it if the checker itself dies,
// so no member outlives a crashed or killed checker.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
