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
	// Token is the --initial-cluster-token the cluster ID was derived
	// from (empty for a member that joined a running cluster, or whose
	// member.json predates the field): named when a peer of another
	// cluster is refused, so an operator can compare.
	Token string `json:"token,omitempty"`
	// RestoredFrom is the SHA-256 (hex) of the backup a restored member
	// was made from, which is part of its cluster ID.
	RestoredFrom string `json:"restored_from,omitempty"`
}

// clusterHint is what to check when a peer turns out to belong to another
// cluster (transport.Config.ClusterHint).
func (who identity) clusterHint() string {
	if who.Token == "" {
		return fmt.Sprintf("check that both members belong to cluster %x: a member joins it with --initial-cluster-state existing after etcdctl member add", who.ClusterID)
	}
	restored := ""
	if who.RestoredFrom != "" {
		restored = fmt.Sprintf(", restored from the backup with SHA-256 %.12s…", who.RestoredFrom)
	}
	return fmt.Sprintf("members of one cluster are started (or restored) with the same --initial-cluster-token and --initial-cluster, and restored ones from the same backup: this member has --initial-cluster-token %q%s", who.Token, restored)
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
