// Package localcluster starts clusters of etcd-compatible servers as
// processes on 127.0.0.1, for tests and benchmarks: etcd itself, or any
// server that takes etcd's flags (`lockstep serve`). It waits until every
// member agrees on a leader, reports each member's peak resident memory,
// and stops them.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options describe a cluster to start.
type Options struct {
	// Command starts one member; the member's flags are appended to it,
	// e.g. {"/path/to/etcd"} or {"/path/to/lockstep", "serve"}.
	Command []string
	// Members is the number of members (at least 1).
	Members int
	// Directory holds each member's data directory and log file; it must
	// exist. The caller removes it (t.TempDir() does).
	Directory string
	// HeartbeatInterval and ElectionTimeout, if not zero, are passed as
	// --heartbeat-interval and --election-timeout in milliseconds.
	HeartbeatInterval, ElectionTimeout time.Duration
	// ExtraArguments are appended to every member's command line.
	ExtraArguments []string
	// ReadyTimeout bounds the wait for a leader (default 30 s).
	ReadyTimeout time.Duration
	// MemberFlags, if set, gives a member's flags instead of etcd's, for a
	// server that takes other flags (such as bench/compare's protocol
	// floor, which only needs its client address). HeartbeatInterval and
	// ElectionTimeout are then not passed; ExtraArguments still are.
	MemberFlags func(member *Member) []string
	// MetricsListeners gives each member a metrics listener of its own
	// (etcd's --listen-metrics-urls, which lockstep serve takes too, with
	// its profiles under /debug/pprof/), at Member.MetricsURL. Ignored
	// with MemberFlags.
	MetricsListeners bool
}

// startAttempts is how many times Start picks fresh ports when a member
// could not bind one (another process took it between the pick and the
// bind).
const startAttempts = 3

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const stopTimeout = 10 * time.Second

// Cluster is a running cluster. Its methods are safe to call from one
// goroutine at a time.
type Cluster struct {
	members []*Member
}

// Member is one process of a cluster.
type Member struct {
	Name          string
	ClientURL     string // http://127.0.0.1:port
	PeerURL       string
	MetricsURL    string // http://127.0.0.1:port, or "" without Options.MetricsListeners
	DataDirectory string
	LogPath       string   // the member's stdout and stderr
	Arguments     []string // the whole command line
	process       *exec.Cmd
	exited        chan struct{} // closed when the process has exited
	exitError     error         // valid once exited is closed
}

// Start starts the members with fresh loopback ports and waits (at most
// options.ReadyTimeout) until every one answers Maintenance.Status with
// the same leader. On failure it stops whatever it started and returns an
// error with the end of the failing member's log.
func Start(ctx context.Context, options Options) (*Cluster, error) {
	if len(options.Command) == 0 || options.Members < 1 {
		return nil, fmt.Errorf("localcluster: need a command and at least one member")
	}
	if options.ReadyTimeout <= 0 {
		options.ReadyTimeout = 30 * time.Second
	}
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var cluster *Cluster
		cluster, err = start(ctx, options, attempt)
		if err == nil {
			return cluster, nil
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, err
}

// errPortTaken marks a start that failed because a port was taken.
var errPortTaken = errors.New("a port was taken")

func start(ctx context.Context, options Options, attempt int) (*Cluster, error) {
	metrics := options.MetricsListeners && options.MemberFlags == nil
	portsPerMember := 2
	if metrics {
		portsPerMember = 3
	}
	ports, err := freePorts(portsPerMember * options.Members)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	url := func(member, port int) string {
		return "http://127.0.0.1:" + strconv.Itoa(ports[portsPerMember*member+port])
	}
	cluster := &Cluster{}
	var initial []string
	for i := range options.Members {
		name := fmt.Sprintf("member%d", i+1)
		member := &Member{
			Name:          name,
			ClientURL:     url(i, 0),
			PeerURL:       url(i, 1),
			DataDirectory: filepath.Join(options.Directory, fmt.Sprintf("%s.%d.data", name, attempt)),
			LogPath:       filepath.Join(options.Directory, fmt.Sprintf("%s.%d.log", name, attempt)),
		}
		if metrics {
			member.MetricsURL = url(i, 2)
		}
		cluster.members = append(cluster.members, member)
		initial = append(initial, name+"="+member.PeerURL)
	}
	for _, member := range cluster.members {
		flags := memberFlags(member, strings.Join(initial, ","), options)
		if options.MemberFlags != nil {
			flags = options.MemberFlags(member)
		}
		member.Arguments = append(append(append([]string{}, options.Command...), flags...), options.ExtraArguments...)
		if err := member.start(); err != nil {
			cluster.Stop()
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	if err := cluster.waitForLeader(ctx, options.ReadyTimeout); err != nil {
		cluster.Stop()
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	return cluster, nil
}

// memberFlags returns etcd's flags for member.
func memberFlags(member *Member, initialCluster string, options Options) []string {
	flags := []string{
		"--name", member.Name,
		"--data-dir", member.DataDirectory,
		"--listen-client-urls", member.ClientURL,
		"--advertise-client-urls", member.ClientURL,
		"--listen-peer-urls", member.PeerURL,
		"--initial-advertise-peer-urls", member.PeerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-state", "new",
	}
	if options.HeartbeatInterval > 0 {
		flags = append(flags, "--heartbeat-interval", strconv.FormatInt(options.HeartbeatInterval.Milliseconds(), 10))
	}
	if options.ElectionTimeout > 0 {
		flags = append(flags, "--election-timeout", strconv.FormatInt(options.ElectionTimeout.Milliseconds(), 10))
	}
	if member.MetricsURL != "" {
		flags = append(flags, "--listen-metrics-urls", member.MetricsURL)
	}
	return flags
}

// freePorts returns count distinct ports that were free on 127.0.0.1: all
// are held open until all are picked, so none repeats.
func freePorts(count int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, listener := range listeners {
			listener.Close()
		}
	}()
	ports := make([]int, 0, count)
	for range count {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		listeners = append(listeners, listener)
		ports = append(ports, listener.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start launches the member's process with its output in LogPath.
func (m *Member) start() error {
	log, err := os.Create(m.LogPath)
	if err != nil {
		return err
	}
	m.process = exec.Command(m.Arguments[0], m.Arguments[1:]...)
	m.process.Stdout, m.process.Stderr = log, log
	if err := m.process.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", m.Name, err)
	}
	m.exited = make(chan struct{})
	go func() {
		m.exitError = m.process.Wait()
		log.Close()
		close(m.exited)
	}()
	return nil
}

// Members returns the members, in the order of their names.
func (c *Cluster) Members() []*Member { return c.members }

// ClientEndpoints returns each member's client address as host:port.
func (c *Cluster) ClientEndpoints() []string {
	endpoints := make([]string, len(c.members))
	for i, member := range c.members {
		endpoints[i] = strings.TrimPrefix(member.ClientURL, "http://")
	}
	return endpoints
}

// PID returns the member's process ID.
func (m *Member) PID() int { return m.process.Process.Pid }

// CommandLine returns the member's command line, quoted for a POSIX shell.
func (m *Member) CommandLine() string {
	quoted := make([]string, len(m.Arguments))
	for i, argument := range m.Arguments {
		quoted[i] = shellQuote(argument)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Memory is a member process's memory at one moment, in bytes, from
// /proc/PID/status (Linux only).
type Memory struct {
	// Peak is the largest resident set size so far (VmHWM).
	Peak int64 `json:"peak_bytes"`
	// Resident is the resident set size now (VmRSS): Anonymous and File
	// (and shared memory, which the members do not use).
	Resident int64 `json:"resident_bytes"`
	// Anonymous is the resident memory no file backs (RssAnon): the Go
	// heap and stacks and what C code allocates, such as Pebble's
	// memtables and block cache.
	Anonymous int64 `json:"anonymous_bytes"`
	// File is the resident memory that mapped files back (RssFile): the
	// executable's pages, and a database file the server maps, as etcd's
	// bbolt does. The kernel may drop these pages and read them again.
	File int64 `json:"file_bytes"`
}

// Memory returns each member's memory now. The members must still be
// running: a process that has exited takes its figures with it.
func (c *Cluster) Memory() ([]Memory, error) {
	uses := make([]Memory, len(c.members))
	for i, member := range c.members {
		use, err := memoryOf(member.PID())
		if err != nil {
			return nil, fmt.Errorf("localcluster: %s: %w", member.Name, err)
		}
		uses[i] = use
	}
	return uses, nil
}

// memoryOf reads the memory lines of /proc/PID/status.
func memoryOf(pid int) (Memory, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var use Memory
	fields := map[string]*int64{"VmHWM:": &use.Peak, "VmRSS:": &use.Resident, "RssAnon:": &use.Anonymous, "RssFile:": &use.File}
	found := 0
	for line := range strings.Lines(string(status)) {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		target, ok := fields[words[0]]
		if !ok {
			continue
		}
		if len(words) != 3 || words[2] != "kB" {
			return Memory{}, fmt.Errorf("unexpected line %q in /proc/%d/status", strings.TrimSpace(line), pid)
		}
		kilobytes, err := strconv.ParseInt(words[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("line %q of /proc/%d/status: %w", strings.TrimSpace(line), pid, err)
		}
		*target = kilobytes * 1024
		found++
	}
	if found != len(fields) {
		return Memory{}, fmt.Errorf("/proc/%d/status lacks one of VmHWM, VmRSS, RssAnon, RssFile", pid)
	}
	return use, nil
}

// Stop stops every member: SIGTERM, then SIGKILL after stopTimeout. It
// returns once all have exited, and may be called more than once.
func (c *Cluster) Stop() {
	for _, member := range c.members {
		if member.exited != nil {
			member.process.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(stopTimeout)
	defer deadline.Stop()
	for _, member := range c.members {
		if member.exited == nil {
			continue
		}
		select {
		case <-member.exited:
		case <-deadline.C:
			member.process.Process.Kill()
			<-member.exited
		}
	}
}

// logExcerpt returns the first and the last lines of the member's log:
// a process that refuses its flags says why at the top, one that fails
// later at the bottom.
func (m *Member) logExcerpt() string {
	const head, tail = 5, 10
	content, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(content), "\n"), "\n")
	if len(lines) <= head+tail {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines[:head], "\n") + "\n...\n" + strings.Join(lines[len(lines)-tail:], "\n")
}
