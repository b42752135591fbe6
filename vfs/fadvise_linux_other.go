//go:build linux && !(amd64 || arm64 || riscv64 || ppc64le || s390x || loong64)

package vfs

// fadvise is a no-op where the system call's arguments are laid out
// differently (32-bit platforms).
func fadvise(fd int, offset, length int64, advice int) error { return nil }
