package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// The durable machine's files, on the member's disk beside the node's
// directory ("/node"), which it never touches.
const (
	machineDirectory = "/machine"
	// machineStateFile holds the last state made durable, in the image
	// format (encodeSequence); it is only ever replaced whole, by a rename.
	machineStateFile = machineDirectory + "/state"
	// machineTemporaryFile is where the next state is written and synced
	// before the rename.
	machineTemporaryFile = machineDirectory + "/state.tmp"
	// machineIncarnationFile is opened by each incarnation and never
	// written (see durableMachine.incarnation).
	machineIncarnationFile = machineDirectory + "/incarnation"
)

// durableMachine is the simulated application as a node.DurableStateMachine:
// the machine, kept on the member's disk as kv keeps its store in Pebble.
// Like kv's writes, which skip Pebble's WAL because the Raft log is the
// WAL, Apply writes nothing: the state becomes durable, whole, at the next
// Snapshot or Restore, so a crash loses the applied tail and the runtime
// replays it from the log (it skips what AppliedIndex covers). A new
// incarnation loads what the last one made durable instead of starting
// empty.
//
// Snapshot and Restore write the state to a temporary file, sync it,
// rename it into place and sync the directory: the disk's crash model
// keeps only what was synced, and the rename makes the replacement atomic.
// A write that fails (an injected fsync failure, a full disk) is their
// error: the runtime must not compact its log behind a state that is not
// durable, nor go on from a restore that is not.
//
// Apply, Snapshot and Restore run one at a time (Apply and Snapshot on the
// node's applier goroutine, Restore on its loop once the applier is idle),
// so persisting needs no lock beyond the machine's own.
type durableMachine struct {
	*machine
	disk vfs.FS
	// incarnation is a handle opened when this incarnation loaded its
	// state. A crash of the disk kills every open handle (vfs.ErrCrashed):
	// the process it models has lost its power, so from then on the
	// machine writes nothing. Without it, the old incarnation could still
	// persist between its disk's crash and its node's stop, a write no
	// power failure allows.
	incarnation vfs.File
}

// loadDurableMachine starts an incarnation's machine from what its disk
// kept: the last durable state, or an empty one if none was ever made
// durable. A state that cannot be read back is an error: the file is only
// ever replaced whole by a synced rename, so no crash can damage it. The
// loaded commands are checked against the cluster's as a restored image's
// are: a machine that kept what was never committed breaks agreement.
func loadDurableMachine(id raft.NodeID, r *recorder, disk vfs.FS) (*durableMachine, error) {
	if err := disk.MkdirAll(machineDirectory); err != nil {
		return nil, fmt.Errorf("stack: node %d: create the machine's directory: %w", id, err)
	}
	data, err := readWholeFile(disk, machineStateFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stack: node %d: read the machine's state: %w", id, err)
	}
	sequence, err := decodeSequence(data)
	if err != nil {
		return nil, fmt.Errorf("stack: node %d: the machine's state file: %w", id, err)
	}
	incarnation, err := disk.Create(machineIncarnationFile)
	if err != nil {
		return nil, fmt.Errorf("stack: node %d: open the machine's incarnation file: %w", id, err)
	}
	m := &durableMachine{machine: newMachine(id, r), disk: disk, incarnation: incarnation}
	if len(sequence) > 0 {
		r.onLoad(uint64(id), sequence)
		m.replace(sequence)
	}
	return m, nil
}

// AppliedIndex implements node.DurableStateMachine: the index of the last
// command the machine holds. At start that is what its disk kept; after
// Restore or Snapshot, which persist before they return, it is durable
// too.
func (m *durableMachine) AppliedIndex() uint64 { return m.lastIndex() }

// Snapshot implements node.StateMachine: it makes the whole state durable,
// then returns its image. If the state cannot be made durable it returns
// the error, and the runtime tries again later without compacting its log.
func (m *durableMachine) Snapshot() (io.ReadCloser, error) {
	image := encodeSequence(m.applied())
	if err := m.persist(image); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(image)), nil
}

// Restore implements node.StateMachine: it replaces the state with the
// image's, as the machine does, and makes it durable before returning,
// since the runtime may already have installed the snapshot in its log.
// If the state cannot be made durable the machine keeps its old state and
// returns the error.
func (m *durableMachine) Restore(image io.Reader) error {
	sequence, err := readImage(image)
	if err != nil {
		return err
	}
	m.recorder.onRestore(uint64(m.id), sequence)
	if err := m.persist(encodeSequence(sequence)); err != nil {
		return err
	}
	m.replace(sequence)
	return nil
}

// persist replaces the state file with image, durably: temporary file,
// fsync, rename, directory fsync. A failed write leaves the last durable
// state in place and removes the partial file, so a full disk keeps no
// more than it held.
func (m *durableMachine) persist(image []byte) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("stack: node %d: persist the machine's state: %s: %w", m.id, step, err)
	}
	if err := m.alive(); err != nil {
		return fail("before writing", err)
	}
	if err := writeSyncedFile(m.disk, machineTemporaryFile, image); err != nil {
		// The name was never synced into the directory: removing it is
		// only to give the space back, and may fail on a dead disk.
		_ = m.disk.Remove(machineTemporaryFile)
		return fail("write "+machineTemporaryFile, err)
	}
	if err := m.alive(); err != nil {
		return fail("before the rename", err)
	}
	if err := m.disk.Rename(machineTemporaryFile, machineStateFile); err != nil {
		return fail("rename", err)
	}
	if err := m.alive(); err != nil {
		return fail("before syncing the directory", err)
	}
	if err := m.disk.SyncDir(machineDirectory); err != nil {
		return fail("sync "+machineDirectory, err)
	}
	return nil
}

// alive returns vfs.ErrCrashed once the disk has crashed under this
// incarnation. It is checked before each step that could make something
// durable, to stop early; a crash that lands between the check and the
// step still stops the step, since the machine's disk is its
// incarnation's powered view (poweredDisk), which fails every operation
// once the power failed.
func (m *durableMachine) alive() error {
	_, err := m.incarnation.Size()
	return err
}

// writeSyncedFile creates name with data and syncs it.
func writeSyncedFile(disk vfs.FS, name string, data []byte) error {
	file, err := disk.Create(name)
	if err != nil {
		return err
	}
	_, err = file.WriteAt(data, 0)
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	return err
}

// readWholeFile returns a file's content.
func readWholeFile(disk vfs.FS, name string) ([]byte, error) {
	file, err := disk.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if _, err := file.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data, nil
}

var _ node.DurableStateMachine = (*durableMachine)(nil)
