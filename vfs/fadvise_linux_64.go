//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64)

package vfs

import "syscall"

func fadvise(fd int, offset, length int64, advice int) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, uintptr(fd), uintptr(offset), uintptr(length), uintptr(advice), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
