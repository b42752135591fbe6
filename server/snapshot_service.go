package server

import (
	"errors"
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/lockstepdb/lockstep/kv"
)

// snapshotChunkBytes is the blob size of one SnapshotResponse (etcd's).
const snapshotChunkBytes = 32 << 10

// Snapshot streams a backup of this member's key-value store (kv.Backup in
// the layout of kv.NewBackupStream): a consistent image at the revision it
// starts from, while writes go on. etcdctl snapshot save and clientv3's
// Maintenance.Snapshot save it to a file; lockstep snapshot restore makes a
// new cluster of it. It is served from this member's own state, like
// etcd's: on a follower it may trail the leader by the entries not yet
// applied here. RemainingBytes stays 0: the image is produced as it is
// sent, so its size is not known beforehand (no etcd tool reads it).
func (m *maintenanceService) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	s := m.server
	// The header's revision is read first: the image holds at least it.
	revision, _ := s.store.Revision()
	header := s.header(revision)
	image, err := s.store.Backup()
	if err != nil {
		return s.clientError(stream.Context(), err)
	}
	backup := kv.NewBackupStream(image)
	defer backup.Close()
	buffer := make([]byte, snapshotChunkBytes)
	var sent int64
	for first := true; ; first = false {
		n, readErr := io.ReadFull(backup, buffer)
		if readErr != nil && !errors.Is(readErr, io.ErrUnexpectedEOF) && !errors.Is(readErr, io.EOF) {
			s.log.Error("snapshot stream failed", "sent_bytes", sent, "error", readErr)
			return fmt.Errorf("lockstep: read the store's image: %w", readErr)
		}
		if n == 0 && !first {
			break
		}
		response := &pb.SnapshotResponse{Blob: buffer[:n]}
		if first {
			response.Header, response.Version = header, EmulatedVersion
		}
		if err := stream.Send(response); err != nil {
			return err
		}
		sent += int64(n)
		if readErr != nil {
			break
		}
	}
	s.log.Info("sent a snapshot", "bytes", sent, "revision", revision)
	return nil
}
