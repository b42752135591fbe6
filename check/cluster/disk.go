package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNoDisks is wrapped, with the cause, by what Start returns when
// Config.DiskBytes asks for a disk of its own for each member and one
// cannot be mounted (mounting needs root). Nothing is left mounted then.
var ErrNoDisks = errors.New("cluster: cannot give each member a tmpfs disk of its own")

// DiskWALSegmentBytes is the Raft log segment size (--wal-segment-bytes)
// of lockstep members on disks of their own: the default 64 MiB would not
// fit a small tmpfs. The log keeps its open segment and one prepared
// ahead, and resumes after a full disk once a segment's size is free.
const DiskWALSegmentBytes = 1 << 20

// fillerName is the file FillDisk writes into a member's data directory.
const fillerName = "lockstep-check-filler"

// fillChunks are the write sizes FillDisk uses, largest first: large
// writes fill the disk quickly, the smallest leaves less than a page.
var fillChunks = []int{1 << 20, 64 << 10, 4 << 10}

// mountDisks puts each member's data directory on a tmpfs of its own of
// size bytes. If one mount fails, those made are undone and the error
// wraps ErrNoDisks.
func (cluster *Cluster) mountDisks(size int64) error {
	for _, member := range cluster.members {
		if err := os.MkdirAll(member.DataDirectory, 0o700); err != nil {
			return fmt.Errorf("%w: %w", ErrNoDisks, err)
		}
		if err := mountTmpfs(member.DataDirectory, size); err != nil {
			return errors.Join(fmt.Errorf("%w: %w", ErrNoDisks, err), cluster.unmountDisks())
		}
		member.diskBytes = size
	}
	return nil
}

// unmountDisks unmounts every member's disk; the members must be stopped.
func (cluster *Cluster) unmountDisks() error {
	var errs []error
	for _, member := range cluster.members {
		if member.diskBytes == 0 {
			continue
		}
		if err := unmountTmpfs(member.DataDirectory); err != nil {
			errs = append(errs, fmt.Errorf("cluster: %s: %w", member.Name, err))
			continue
		}
		member.diskBytes = 0
	}
	return errors.Join(errs...)
}

// DiskBytes returns the size of the member's own disk, or 0 if its data
// directory is on the work directory's file system.
func (member *Member) DiskBytes() int64 { return member.diskBytes }

// wipeData removes everything in the member's data directory. A directory
// that is a mount point is emptied rather than removed.
func (member *Member) wipeData() error {
	if member.diskBytes == 0 {
		return os.RemoveAll(member.DataDirectory)
	}
	entries, err := os.ReadDir(member.DataDirectory)
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if err := os.RemoveAll(filepath.Join(member.DataDirectory, entry.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Filler is a file that fills a member's disk; Release removes it.
type Filler struct {
	path string
	file *os.File
	// Left is the space the disk had free once the filler was written.
	Left int64
}

// FillDisk writes a file into the member's data directory until its disk
// is full (ENOSPC), leaving less than a page free, so that the member's
// next write that needs space fails: its store's flush, its Raft log's
// next segment, a snapshot. The member keeps running. The member must
// have a disk of its own (Config.DiskBytes).
func (cluster *Cluster) FillDisk(member *Member) (*Filler, error) {
	if !cluster.managed {
		return nil, ErrNotManaged
	}
	if member.diskBytes == 0 {
		return nil, fmt.Errorf("cluster: fill %s's disk: it has no disk of its own", member.Name)
	}
	path := filepath.Join(member.DataDirectory, fillerName)
	file, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cluster: fill %s's disk: %w", member.Name, err)
	}
	filler := &Filler{path: path, file: file}
	if err := filler.TopUp(); err != nil {
		return nil, errors.Join(fmt.Errorf("cluster: fill %s's disk: %w", member.Name, err), filler.Release())
	}
	filler.Left, _, _ = diskSpace(member.DataDirectory)
	return filler, nil
}

// TopUp writes to the filler until the disk is full again: the member
// frees space now and then (a removed log segment or old snapshot), which
// the fault takes back.
func (filler *Filler) TopUp() error {
	zeros := make([]byte, fillChunks[0])
	for _, chunk := range fillChunks {
		// A tmpfs holds at most its size, so each loop ends.
		var err error
		for err == nil {
			_, err = filler.file.Write(zeros[:chunk])
		}
		if !errors.Is(err, syscall.ENOSPC) {
			return err
		}
	}
	return nil
}

// Release removes the filler, giving its space back.
func (filler *Filler) Release() error {
	filler.file.Close()
	if err := os.Remove(filler.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cluster: release a full disk: %w", err)
	}
	return nil
}

// DiskUse returns how many bytes of the member's own disk are in use
// (total less free), or 0 if it has none.
func (member *Member) DiskUse() (int64, error) {
	if member.diskBytes == 0 {
		return 0, nil
	}
	free, total, err := diskSpace(member.DataDirectory)
	if err != nil {
		return 0, err
	}
	return total - free, nil
}
