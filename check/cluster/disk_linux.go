package cluster

import (
	"errors"
	"fmt"
	"syscall"
)

// mountTmpfs mounts a tmpfs of size bytes at directory, which must exist.
// Only root (CAP_SYS_ADMIN) may.
func mountTmpfs(directory string, size int64) error {
	if err := syscall.Mount("tmpfs", directory, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return fmt.Errorf("mount a tmpfs of %d bytes at %s: %w", size, directory, err)
	}
	return nil
}

// unmountTmpfs unmounts the tmpfs at directory. A mount still busy (a
// process that outlived its kill, which process groups should prevent) is
// detached instead, so it goes away with its last user rather than stay.
func unmountTmpfs(directory string) error {
	err := syscall.Unmount(directory, 0)
	if errors.Is(err, syscall.EBUSY) {
		err = syscall.Unmount(directory, syscall.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) { // EINVAL: not mounted (any more)
		return fmt.Errorf("unmount the tmpfs at %s: %w", directory, err)
	}
	return nil
}

// diskSpace returns the bytes free and in all on the file system holding
// directory.
func diskSpace(directory string) (free, total int64, err error) {
	var stat syscall.Statfs_t
	if err := syscall.Statfs(directory, &stat); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", directory, err)
	}
	return int64(stat.Bavail) * stat.Bsize, int64(stat.Blocks) * stat.Bsize, nil
}
