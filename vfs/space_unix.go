//go:build linux || darwin

package vfs

import "syscall"

// FreeSpace implements SpaceReporter with statfs: the blocks available to
// unprivileged users (the root-reserved ones excluded) times the block
// size.
func (osFS) FreeSpace(dir string) (uint64, error) {
	var stat syscall.Statfs_t
	if err := syscall.Statfs(dir, &stat); err != nil {
		return 0, err
	}
	return uint64(stat.Bavail) * uint64(stat.Bsize), nil
}
