package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// member is one server process of a cluster.
type member struct {
	name      string
	clientURL string
	peerURL   string
	directory string // holds the data directory and the log

	command  *exec.Cmd
	exited   chan struct{} // closed once the process has been waited for
	waitErr  error         // the process's exit status, set before exited closes
	stopOnce sync.Once
}

// logPath is the file receiving the member's standard output and error.
func (m *member) logPath() string { return filepath.Join(m.directory, "log") }

// arguments returns the member's command line after the binary: etcd's
// flag names, which lockstep serve shares.
func (m *member) arguments(spec Spec, initialCluster string) []string {
	var arguments []string
	if spec.Kind == Lockstep {
		arguments = append(arguments, "serve")
	}
	arguments = append(arguments,
		"--name="+m.name,
		"--data-dir="+filepath.Join(m.directory, "data"),
		"--listen-client-urls="+m.clientURL,
		"--advertise-client-urls="+m.clientURL,
		"--listen-peer-urls="+m.peerURL,
		"--initial-advertise-peer-urls="+m.peerURL,
		"--initial-cluster="+initialCluster,
		"--initial-cluster-state=new",
		"--initial-cluster-token=k8s-compat",
		"--log-level=warn",
	)
	if spec.WatchProgressNotifyInterval != 0 {
		arguments = append(arguments, "--watch-progress-notify-interval="+spec.WatchProgressNotifyInterval.String())
	}
	return arguments
}

// start launches the process in a process group of its own, its output
// going to the member's log.
func (m *member) start(spec Spec, initialCluster string) error {
	if err := os.MkdirAll(m.directory, 0o700); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	log, err := os.Create(m.logPath())
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	m.command = exec.Command(spec.Binary, m.arguments(spec, initialCluster)...)
	m.command.Stdout, m.command.Stderr = log, log
	m.command.SysProcAttr = processAttributes()
	if err := m.command.Start(); err != nil {
		log.Close()
		m.command = nil
		return fmt.Errorf("cluster: starting %s: %w", m.name, err)
	}
	m.exited = make(chan struct{})
	go func() {
		m.waitErr = m.command.Wait()
		log.Close()
		close(m.exited)
	}()
	return nil
}

// unknownFlag matches the complaint of a binary given a flag it does not
// define: cobra's (lockstep) and Go's flag package's (etcd).
var unknownFlag = regexp.MustCompile(`(?:unknown flag: |flag provided but not defined: )-{1,2}([a-z0-9-]+)`)

// exitError describes a member that exited while starting, from its log.
func (m *member) exitError(spec Spec) error {
	log, _ := os.ReadFile(m.logPath())
	if match := unknownFlag.FindSubmatch(log); match != nil {
		return &UnknownFlagError{Binary: spec.Binary, Flag: "--" + string(match[1])}
	}
	return fmt.Errorf("cluster: %s %s exited while starting (%v); its log ends:\n%s", spec.Kind, m.name, m.waitErr, tail(log, 20))
}

// waitReady polls the member until it serves a linearizable read (so the
// cluster has a leader and this member reaches it), the process exits, or
// ctx ends.
func (m *member) waitReady(ctx context.Context, spec Spec) error {
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{m.clientURL},
		DialTimeout: time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("cluster: client for %s: %w", m.name, err)
	}
	defer client.Close()
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	var lastErr error
	for {
		select {
		case <-m.exited:
			return m.exitError(spec)
		default:
		}
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		_, lastErr = client.Get(attempt, "k8s-compat-readiness")
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-m.exited:
			return m.exitError(spec)
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s %s not ready: %v (last read: %v)", spec.Kind, m.name, ctx.Err(), lastErr)
		case <-ticker.C:
		}
	}
}

// stop ends the member's process group: SIGTERM, then SIGKILL when it has
// not exited within grace.
func (m *member) stop(grace time.Duration) {
	m.stopOnce.Do(func() {
		if m.command == nil {
			return
		}
		select {
		case <-m.exited:
			return // waited for: its id may already name another process
		default:
		}
		group := -m.command.Process.Pid
		syscall.Kill(group, syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(grace):
			syscall.Kill(group, syscall.SIGKILL)
			<-m.exited
		}
	})
}

// tail returns the last lines of text.
func tail(text []byte, lines int) string {
	text = bytes.TrimRight(text, "\n")
	for index := len(text) - 1; index >= 0; index-- {
		if text[index] == '\n' {
			lines--
			if lines == 0 {
				return string(text[index+1:])
			}
		}
	}
	return string(text)
}
