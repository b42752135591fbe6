package cluster

import "syscall"

// processAttributes puts a member in a process group of its own (so it is
// stopped by the group's id) and has the kernel kill it if the process
// that started it dies first (a test binary that panics on its timeout
// does not run its cleanups).
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
