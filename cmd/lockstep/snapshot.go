package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/server"
)

func init() { register(newSnapshotCommand) }

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

func newSnapshotSaveCommand() *cobra.Command {
	var endpoint, dataDir string
	var tlsFiles loadgen.TLSFiles
	var timeout time.Duration
	command := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a backup from one member (--endpoints) or from a stopped member's --data-dir",
		Example: `  lockstep snapshot save backup.db --endpoints 127.0.0.1:2379
  lockstep snapshot save backup.db --data-dir /var/lib/lockstep/m1   # the member must be stopped`,
		Args: cobra.ExactArgs(1),
		RunE: func(command *cobra.Command, arguments []string) error {
			ctx := command.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if (endpoint == "") == (dataDir == "") {
				return &exitError{code: 2, message: "snapshot save: give exactly one of --endpoints (a running member) and --data-dir (a stopped member's directory)"}
			}
			var source func() (io.ReadCloser, error)
			if dataDir != "" {
				source = func() (io.ReadCloser, error) { return backupFromDirectory(dataDir) }
			} else {
				source = func() (io.ReadCloser, error) { return backupFromMember(ctx, endpoint, tlsFiles, timeout) }
			}
			size, err := saveBackup(arguments[0], source)
			if err != nil {
				return &exitError{code: 1, message: "snapshot save: " + err.Error()}
			}
			info, err := inspectBackup(arguments[0])
			if err != nil {
				return &exitError{code: 1, message: "snapshot save: the saved file does not check: " + err.Error()}
			}
			fmt.Fprintf(command.OutOrStdout(), "saved %s: %d bytes, revision %d, %d keys, applied index %d\n", arguments[0], size, info.Revision, info.Keys, info.Applied)
			return nil
		},
	}
	flags := command.Flags()
	flags.StringVar(&endpoint, "endpoints", "", "the client endpoint (host:port) of the one member to back up")
	flags.StringVar(&dataDir, "data-dir", "", "a stopped member's data directory to back up instead")
	flags.DurationVar(&timeout, "dial-timeout", 5*time.Second, "how long the member has to answer")
	flags.StringVar(&tlsFiles.CACert, "cacert", "", "verify the member with this CA bundle (PEM)")
	flags.StringVar(&tlsFiles.Cert, "cert", "", "client certificate (PEM) for TLS")
	flags.StringVar(&tlsFiles.Key, "key", "", "client key (PEM) for TLS")
	return command
}

// backupFromMember opens Maintenance.Snapshot on one member.
func backupFromMember(ctx context.Context, endpoint string, files loadgen.TLSFiles, timeout time.Duration) (io.ReadCloser, error) {
	tlsConfig, err := files.ClientConfig()
	if err != nil {
		return nil, err
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: timeout, TLS: tlsConfig})
	if err != nil {
		return nil, err
	}
	stream, err := client.Snapshot(ctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	return closeBoth{stream, client}, nil
}

type closeBoth struct {
	io.ReadCloser
	client *clientv3.Client
}

func (c closeBoth) Close() error { return errors.Join(c.ReadCloser.Close(), c.client.Close()) }

// backupFromDirectory reads the key-value store of a stopped member: Pebble
// locks the store, so a running member's directory is refused.
func backupFromDirectory(dataDir string) (io.ReadCloser, error) {
	directory := filepath.Join(dataDir, "kv")
	if _, err := os.Stat(directory); err != nil {
		return nil, fmt.Errorf("--data-dir %s holds no key-value store: %w", dataDir, err)
	}
	store, err := kv.Open(directory, kv.Options{})
	if err != nil {
		return nil, fmt.Errorf("open %s (is the member still running?): %w", directory, err)
	}
	image, err := store.Backup()
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return closeStore{kv.NewBackupStream(image), store}, nil
}

type closeStore struct {
	io.ReadCloser
	store *kv.Store
}

func (c closeStore) Close() error { return errors.Join(c.ReadCloser.Close(), c.store.Close()) }

// saveBackup writes what source yields to path durably: into path.part,
// fsynced, renamed into place, so an interrupted save never leaves a file
// that looks like a backup.
func saveBackup(path string, source func() (io.ReadCloser, error)) (int64, error) {
	partial := path + ".part"
	file, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(partial) // a no-op once renamed
	stream, err := source()
	if err != nil {
		file.Close()
		return 0, err
	}
	size, copyErr := io.Copy(file, stream)
	closeStreamErr := stream.Close()
	syncErr := file.Sync()
	closeErr := file.Close()
	if err := errors.Join(copyErr, closeStreamErr, syncErr, closeErr); err != nil {
		return 0, err
	}
	return size, os.Rename(partial, path)
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
	image, err := kv.OpenBackup(file, stat.Size())
	if err != nil {
		return kv.ImageInfo{}, err
	}
	return kv.InspectImage(image)
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

func newSnapshotRestoreCommand() *cobra.Command {
	flags := &serveFlags{}
	command := &cobra.Command{
		Use:   "restore FILE",
		Short: "Create a member's data directory for a new cluster from a backup",
		Long: `restore creates --data-dir for member --name of a new cluster, whose members are
--initial-cluster, holding the state of the backup. Run it for every member with
the same backup, --initial-cluster and --initial-cluster-token, then start each
member with lockstep serve and the same flags. The data directory must not exist
or be empty. Use a new --initial-cluster-token: the new cluster must not be
mistaken for the old one.`,
		Example: `  lockstep snapshot restore backup.db --name m1 --data-dir m1.lockstep \
    --initial-cluster m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380 \
    --initial-advertise-peer-urls http://10.0.0.1:2380 --initial-cluster-token restored-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(command *cobra.Command, arguments []string) error {
			flags.listenPeer = flags.advertisePeer
			if flags.listenPeer == "" {
				flags.listenPeer = "http://localhost:2380"
			}
			config, err := flags.config(command.ErrOrStderr())
			if err != nil {
				return &exitError{code: 2, message: "snapshot restore: " + err.Error()}
			}
			info, err := server.RestoreBackup(config, arguments[0])
			if err != nil {
				return &exitError{code: 1, message: "snapshot restore: " + err.Error()}
			}
			fmt.Fprintf(command.OutOrStdout(), "restored %s into %s: revision %d, %d keys; start it with lockstep serve --name %s --data-dir %s and the same cluster flags\n",
				arguments[0], config.DataDirectory, info.Revision, info.Keys, config.Name, config.DataDirectory)
			return nil
		},
	}
	f := command.Flags()
	f.StringVar(&flags.name, "name", "default", "the member's name in the new cluster")
	f.StringVar(&flags.dataDir, "data-dir", "", "the member's new data directory (default ${name}.lockstep)")
	f.StringVar(&flags.advertisePeer, "initial-advertise-peer-urls", "http://localhost:2380", "the member's peer URL, as in --initial-cluster")
	f.StringVar(&flags.initialCluster, "initial-cluster", "", "the new cluster: name=peerURL,... (default ${name}=${initial-advertise-peer-urls})")
	f.StringVar(&flags.initialToken, "initial-cluster-token", "etcd-cluster", "token of the new cluster (use a new one)")
	// The rest of serve's defaults, which config validates.
	flags.initialState, flags.listenClient, flags.heartbeatMillis, flags.electionMillis = "new", "http://localhost:2379", 100, 1000
	flags.snapshotCount, flags.quotaBytes = server.DefaultSnapshotCount, server.DefaultQuotaBackendBytes
	flags.maxRequestBytes, flags.maxTxnOps = server.DefaultMaxRequestBytes, server.DefaultMaxTxnOps
	flags.logFormat, flags.logLevel = "text", "warn"
	return command
}
