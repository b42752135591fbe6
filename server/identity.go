package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// identity is who this member is, fixed when its data directory is
// created: later runs read it rather than recompute it from flags that an
// operator may since have changed.
type identity struct {
	MemberID  raft.NodeID `json:"member_id"`
	ClusterID uint64      `json:"cluster_id"`
	Name      string      `json:"name"`
	// Peers are the members known at creation and their peer URLs
	// (comma-separated), the node's initial address book.
	Peers map[raft.NodeID]string `json:"peers"`
}

const identityFile = "member.json"

// loadIdentity reads the identity in directory; os.ErrNotExist if there is
// none yet.
func loadIdentity(directory string) (identity, error) {
	data, err := os.ReadFile(filepath.Join(directory, identityFile))
	if err != nil {
		return identity{}, err
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil || id.MemberID == raft.None || id.ClusterID == 0 {
		return identity{}, fmt.Errorf("server: %s is corrupt (%v): restore the data directory from a backup, or remove the member and add it back", filepath.Join(directory, identityFile), err)
	}
	return id, nil
}

// saveIdentity writes the identity durably (write, fsync, rename, fsync
// the directory), so a crash leaves either no identity or the whole one.
func saveIdentity(directory string, id identity) error {
	data, err := json.Marshal(id)
	if err != nil {
		return err
	}
	temporary := filepath.Join(directory, identityFile+".tmp")
	file, err := os.Create(temporary)
	if err != nil {
		return fmt.Errorf("server: save identity: %w", err)
	}
	_, writeErr := file.Write(data)
	syncErr := file.Sync()
	closeErr := file.Close()
	if err := errors.Join(writeErr, syncErr, closeErr); err != nil {
		return fmt.Errorf("server: save identity: %w", err)
	}
	if err := os.Rename(temporary, filepath.Join(directory, identityFile)); err != nil {
		return fmt.Errorf("server: save identity: %w", err)
	}
	if err := vfs.OS.SyncDir(directory); err != nil {
		return fmt.Errorf("server: save identity: %w", err)
	}
	return nil
}
