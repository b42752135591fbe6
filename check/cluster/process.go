package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// terminateGrace is how long a member may take to shut down after SIGTERM
// before it is killed.
const terminateGrace = 10 * time.Second

// start launches the member's process in its own process group, its output
// appended to its log file. The member must not be running.
func (member *Member) start(system System) error {
	if member.Running() {
		return fmt.Errorf("cluster: start %s: already running", member.Name)
	}
	logFile, err := os.OpenFile(member.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: start %s: %w", member.Name, err)
	}
	fmt.Fprintf(logFile, "=== lockstep check: starting %s at %s\n", member.Name, time.Now().Format(time.RFC3339Nano))
	command := exec.Command(system.Binary, system.arguments(member.flags())...)
	command.Stdout, command.Stderr = logFile, logFile
	command.SysProcAttr = processAttributes()
	if err := command.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cluster: start %s: %w", member.Name, err)
	}
	exited := make(chan struct{})
	member.mutex.Lock()
	member.command, member.exited, member.expectExit, member.paused = command, exited, false, false
	member.mutex.Unlock()
	go member.reap(command, exited, logFile)
	return nil
}

// reap waits for the process to exit, records an exit nobody asked for,
// and marks the member stopped.
func (member *Member) reap(command *exec.Cmd, exited chan struct{}, logFile *os.File) {
	err := command.Wait()
	logFile.Close()
	member.mutex.Lock()
	if !member.expectExit {
		member.unexpected = append(member.unexpected,
			fmt.Sprintf("%s (pid %d) exited unexpectedly at %s: %v; see %s",
				member.Name, command.Process.Pid, time.Now().Format(time.TimeOnly), err, member.logPath))
	}
	if member.command == command {
		member.command = nil
	}
	member.mutex.Unlock()
	close(exited)
}

// signal sends sig to the member's whole process group. It returns the
// channel closed when the current process exits, or nil if none runs.
func (member *Member) signal(sig syscall.Signal, expectExit bool) (<-chan struct{}, error) {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	if member.command == nil {
		return nil, nil
	}
	if expectExit {
		member.expectExit = true
	}
	// The process group ID is the leader's PID (Setpgid); the minus sign
	// addresses the group, so helpers the member spawned go too.
	if err := syscall.Kill(-member.command.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return member.exited, fmt.Errorf("cluster: signal %s %s: %w", member.Name, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		member.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		member.paused = false
	}
	return member.exited, nil
}

// kill sends SIGKILL to the member's process group and waits until the
// process is gone. A member that is not running is left alone.
func (member *Member) kill(ctx context.Context) error {
	exited, err := member.signal(syscall.SIGKILL, true)
	if err != nil || exited == nil {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: kill %s: %w", member.Name, ctx.Err())
	}
}

// terminate asks the member to shut down (SIGTERM, and SIGCONT in case it
// is paused) and kills it if it has not exited within terminateGrace.
func (member *Member) terminate(ctx context.Context) error {
	exited, err := member.signal(syscall.SIGTERM, true)
	if err != nil || exited == nil {
		return err
	}
	if _, err := member.signal(syscall.SIGCONT, true); err != nil {
		return err
	}
	timer := time.NewTimer(terminateGrace)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
		return member.kill(ctx)
	case <-ctx.Done():
		return member.kill(context.Background())
	}
}

// pause stops the member's processes with SIGSTOP.
func (member *Member) pause() error {
	exited, err := member.signal(syscall.SIGSTOP, false)
	if err == nil && exited == nil {
		return fmt.Errorf("cluster: pause %s: not running", member.Name)
	}
	return err
}

// resume continues a paused member with SIGCONT.
func (member *Member) resume() error {
	_, err := member.signal(syscall.SIGCONT, false)
	return err
}

// Paused reports whether the member is stopped by SIGSTOP.
func (member *Member) Paused() bool {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	return member.paused
}
