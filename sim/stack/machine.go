package stack

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// appliedCommand is a command and the index it was applied at.
type appliedCommand struct {
	index   uint64
	command string
}

// machine is the simulated application: a register per key, set by
// "key=value" commands. It keeps every command it applied, with its index,
// so that the run can compare the nodes' applied sequences, and it reports
// each application to the recorder. Its image (Snapshot) is that sequence.
//
// Apply runs on the node's applier goroutine, Restore on its loop (one at
// a time, see machine.StateMachine); clients read values
// and the checks read the sequence from others, hence the lock.
type machine struct {
	id       raft.NodeID
	recorder *recorder

	mu       sync.Mutex
	sequence []appliedCommand
	values   map[string]string
}

func newMachine(id raft.NodeID, r *recorder) *machine {
	return &machine{id: id, recorder: r, values: map[string]string{}}
}

// Apply implements node.StateMachine; each command's result is its index.
func (m *machine) Apply(entries []node.Entry) []node.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	results := make([]node.Result, len(entries))
	for i, entry := range entries {
		command := string(entry.Command)
		if last := m.lastIndexLocked(); entry.Index <= last {
			m.recorder.violate("integrity", "node %d applies index %d after %d", m.id, entry.Index, last)
		}
		m.recorder.onApply(uint64(m.id), entry.Index, command)
		m.sequence = append(m.sequence, appliedCommand{index: entry.Index, command: command})
		if key, value, ok := strings.Cut(command, "="); ok {
			m.values[key] = value
		}
		results[i] = entry.Index
	}
	return results
}

func (m *machine) lastIndexLocked() uint64 {
	if len(m.sequence) == 0 {
		return 0
	}
	return m.sequence[len(m.sequence)-1].index
}

// Snapshot implements node.StateMachine: the image is the applied
// sequence (see encodeSequence).
func (m *machine) Snapshot() (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return io.NopCloser(bytes.NewReader(encodeSequence(m.sequence))), nil
}

// Restore implements node.StateMachine. A malformed image is an error, and
// the image's commands are checked against what the cluster applied.
func (m *machine) Restore(image io.Reader) error {
	sequence, err := readImage(image)
	if err != nil {
		return err
	}
	m.recorder.onRestore(uint64(m.id), sequence)
	m.replace(sequence)
	return nil
}

// replace makes sequence the machine's whole state.
func (m *machine) replace(sequence []appliedCommand) {
	values := map[string]string{}
	for _, c := range sequence {
		if key, value, ok := strings.Cut(c.command, "="); ok {
			values[key] = value
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sequence, m.values = sequence, values
}

// value returns a key's current value.
func (m *machine) value(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.values[key]
}

// applied returns a copy of the applied sequence.
func (m *machine) applied() []appliedCommand {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sequence)
}

// lastIndex returns the index of the last command applied.
func (m *machine) lastIndex() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastIndexLocked()
}
