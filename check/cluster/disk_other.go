//go:build !linux

package cluster

import "errors"

// mountTmpfs fails: tmpfs mounts are a Linux feature.
func mountTmpfs(directory string, size int64) error {
	return errors.New("a tmpfs disk for each member needs Linux")
}

// unmountTmpfs has nothing to unmount: mountTmpfs never succeeds here.
func unmountTmpfs(directory string) error { return nil }

// diskSpace is not asked: no disk is ever mounted here.
func diskSpace(directory string) (free, total int64, err error) {
	return 0, 0, errors.New("free space unknown")
}
