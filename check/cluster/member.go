package cluster

import (
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Timing of every member: the flags the brief fixes for both systems, and
// what the fault schedule derives its pause lengths from.
const (
	// HeartbeatInterval is passed as --heartbeat-interval.
	HeartbeatInterval = 100 * time.Millisecond
	// ElectionTimeout is passed as --election-timeout.
	ElectionTimeout = 1000 * time.Millisecond
	// CorruptCheckInterval is passed as --corrupt-check-time: the leader
	// compares the members' hashes all through the run, so that a check
	// that took a healthy member for a corrupt one under faults (a false
	// CORRUPT alarm) fails the run (converge.Check looks for the alarm).
	CorruptCheckInterval = 5 * time.Second
)

// Member is one server of a cluster. Its addresses stay the same across
// restarts and membership changes; its process and raft ID do not.
type Member struct {
	// Name is the member's --name.
	Name string
	// ClientURL is where clients reach it (--listen/advertise-client-urls).
	ClientURL string
	// PeerURL is the address it advertises to peers: its proxy's.
	PeerURL string
	// DataDirectory is its --data-dir.
	DataDirectory string

	listenPeerURL string
	logPath       string
	// diskBytes is the size of the tmpfs mounted at DataDirectory, 0 if
	// none is; set before the member first starts and cleared by Close.
	diskBytes int64

	mutex          sync.Mutex
	command        *exec.Cmd
	exited         chan struct{} // closed when the current process has exited
	expectExit     bool          // set before we stop it, so its exit is no news
	paused         bool
	removed        bool
	initialCluster string
	clusterState   string
	id             uint64
	unexpected     []string // unexpected exits, as messages
}

// flags returns the member's etcd-style command-line flags.
func (member *Member) flags() []string {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	return []string{
		"--name=" + member.Name,
		"--data-dir=" + member.DataDirectory,
		"--listen-client-urls=" + member.ClientURL,
		"--advertise-client-urls=" + member.ClientURL,
		"--listen-peer-urls=" + member.listenPeerURL,
		"--initial-advertise-peer-urls=" + member.PeerURL,
		"--initial-cluster=" + member.initialCluster,
		"--initial-cluster-state=" + member.clusterState,
		"--heartbeat-interval=" + millisecondsString(HeartbeatInterval),
		"--election-timeout=" + millisecondsString(ElectionTimeout),
		"--corrupt-check-time=" + CorruptCheckInterval.String(),
	}
}

func millisecondsString(duration time.Duration) string {
	return strconv.FormatInt(duration.Milliseconds(), 10)
}

// PID returns the process ID of the running member, or 0.
func (member *Member) PID() int {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	if member.command == nil {
		return 0
	}
	return member.command.Process.Pid
}

// Running reports whether the member's process is alive (paused or not).
func (member *Member) Running() bool { return member.PID() != 0 }

// Removed reports whether the member is currently removed from the cluster.
func (member *Member) Removed() bool {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	return member.removed
}

// ID returns the member's raft ID as last learned from the cluster (0 if
// not yet known).
func (member *Member) ID() uint64 {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	return member.id
}

func (member *Member) setID(id uint64) {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	member.id = id
}

// UnexpectedExits returns a message for each time the member's process
// exited without being asked to: a crash, which the checker reports.
func (member *Member) UnexpectedExits() []string {
	member.mutex.Lock()
	defer member.mutex.Unlock()
	return append([]string(nil), member.unexpected...)
}
