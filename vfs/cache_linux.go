package vfs

import "os"

// fadviseDontNeed is POSIX_FADV_DONTNEED.
const fadviseDontNeed = 4

// DropCache implements CacheDropper with posix_fadvise(POSIX_FADV_DONTNEED).
func (osFS) DropCache(name string) error {
	file, err := os.Open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	return fadvise(int(file.Fd()), 0, 0, fadviseDontNeed)
}
