package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/server"
	"github.com/lockstepdb/lockstep/vfs"
)

func newSnapshotSaveCommand() *cobra.Command {
	var endpoint, dataDir string
	var tlsFiles loadgen.TLSFiles
	var timeout time.Duration
	command := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a backup from one member (--endpoints) or from a stopped member's --data-dir",
		Long: `save writes a backup of the key-value store to FILE. With --endpoints it streams
one running member's state (consistent at one revision; a follower may trail the
leader by a few entries). With --data-dir it reads a stopped member's directory,
first replaying the member's whole log into a scratch copy of its store (the
member's own store is left as it was): the way to rescue a survivor's state
when a majority is lost (see docs/operations.md).`,
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
			if strings.Contains(endpoint, ",") {
				return &exitError{code: 2, message: "snapshot save: --endpoints must name one member: a backup is taken from one member's state"}
			}
			var source func() (io.ReadCloser, error)
			if dataDir != "" {
				source = func() (io.ReadCloser, error) { return server.OpenOfflineBackup(dataDir, nil) }
			} else {
				source = func() (io.ReadCloser, error) { return backupFromMember(ctx, endpoint, tlsFiles, timeout) }
			}
			info, err := saveBackup(arguments[0], source)
			if err != nil {
				return &exitError{code: 1, message: "snapshot save: " + err.Error()}
			}
			fmt.Fprintf(command.OutOrStdout(), "saved %s: %d bytes of image, revision %d, %d keys, applied index %d\n", arguments[0], info.Bytes, info.Revision, info.Keys, info.Applied)
			return nil
		},
	}
	flags := command.Flags()
	flags.StringVar(&endpoint, "endpoints", "", "the client endpoint (host:port) of the one member to back up")
	flags.StringVar(&dataDir, "data-dir", "", "a stopped member's data directory to back up instead")
	flags.DurationVar(&timeout, "dial-timeout", 5*time.Second, "how long the member has to answer before the backup starts")
	flags.StringVar(&tlsFiles.CACert, "cacert", "", "verify the member with this CA bundle (PEM)")
	flags.StringVar(&tlsFiles.Cert, "cert", "", "client certificate (PEM) for TLS")
	flags.StringVar(&tlsFiles.Key, "key", "", "client key (PEM) for TLS")
	return command
}

// backupFromMember opens Maintenance.Snapshot on one member, once the
// member has answered a Status call within timeout (gRPC would otherwise
// wait for an unreachable member without end).
func backupFromMember(ctx context.Context, endpoint string, files loadgen.TLSFiles, timeout time.Duration) (io.ReadCloser, error) {
	tlsConfig, err := files.ClientConfig()
	if err != nil {
		return nil, err
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: timeout, TLS: tlsConfig, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	statusCtx, cancel := context.WithTimeout(ctx, timeout)
	_, err = client.Status(statusCtx, endpoint)
	cancel()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%s did not answer within --dial-timeout %v: %w", endpoint, timeout, err)
	}
	stream, err := client.Snapshot(ctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	return &clientStream{stream, client}, nil
}

// clientStream is a Maintenance.Snapshot stream; closing it closes the
// client that opened it.
type clientStream struct {
	io.ReadCloser
	client *clientv3.Client
}

func (c *clientStream) Close() error { return errors.Join(c.ReadCloser.Close(), c.client.Close()) }

// saveBackup writes what source yields to path durably: into path.part,
// fsynced and checked whole, then renamed into place and the directory
// fsynced, so an interrupted or damaged save never leaves a file that
// looks like a backup. A .part left by a killed save is overwritten by
// the next one.
func saveBackup(path string, source func() (io.ReadCloser, error)) (kv.ImageInfo, error) {
	partial := path + ".part"
	file, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return kv.ImageInfo{}, err
	}
	defer os.Remove(partial) // a no-op once renamed
	stream, err := source()
	if err != nil {
		file.Close()
		return kv.ImageInfo{}, err
	}
	_, copyErr := io.Copy(file, stream)
	closeStreamErr := stream.Close()
	syncErr := file.Sync()
	closeErr := file.Close()
	if err := errors.Join(copyErr, closeStreamErr, syncErr, closeErr); err != nil {
		return kv.ImageInfo{}, err
	}
	info, err := inspectBackup(partial)
	if err != nil {
		return kv.ImageInfo{}, fmt.Errorf("the received backup does not check: %w", err)
	}
	if err := os.Rename(partial, path); err != nil {
		return kv.ImageInfo{}, err
	}
	return info, vfs.OS.SyncDir(filepath.Dir(path))
}
