package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/kv"
)

func init() { register(newSnapshotCommand) }

// newSnapshotCommand groups backups: save (snapshot_save.go), status (here)
// and restore (snapshot_restore.go).
func newSnapshotCommand() *cobra.Command {
	command := &cobra.Command{
		Use:   "snapshot",
		Short: "Back up a cluster's key-value store, and restore a backup as a new cluster",
		Long: `snapshot saves a backup of the key-value store (from a running member, or from a
stopped member's data directory), checks one, and restores one into the data
directories of a new cluster: the way back after losing a majority of members.
A backup holds the keys, their history, leases and alarms; the restored cluster
gets new member and cluster IDs. See docs/operations.md.`,
	}
	command.AddCommand(newSnapshotSaveCommand(), newSnapshotStatusCommand(), newSnapshotRestoreCommand())
	return command
}

func newSnapshotStatusCommand() *cobra.Command {
	var asJSON bool
	command := &cobra.Command{
		Use:   "status FILE",
		Short: "Check a backup file whole and print what it holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(command *cobra.Command, arguments []string) error {
			info, err := inspectBackup(arguments[0])
			if err != nil {
				return &exitError{code: 1, message: "snapshot status: " + err.Error()}
			}
			out := command.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(info)
			}
			fmt.Fprintf(out, "revision %d (compacted at %d), %d keys, %d stored versions, %d leases, applied index %d, %d bytes: checksums hold\n",
				info.Revision, info.Compacted, info.Keys, info.Versions, info.Leases, info.Applied, info.Bytes)
			return nil
		},
	}
	command.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return command
}

// inspectBackup checks a backup file whole and summarizes it.
func inspectBackup(path string) (kv.ImageInfo, error) {
	file, err := os.Open(path)
	if err != nil {
		return kv.ImageInfo{}, err
	}
	defer file.Close()
	stat, err := file.Stat()
	if err != nil {
		return kv.ImageInfo{}, err
	}
	image, _, err := kv.OpenBackup(file, stat.Size())
	if err != nil {
		return kv.ImageInfo{}, err
	}
	return kv.InspectImage(image)
}
