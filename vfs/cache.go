package vfs

// CacheDropper is implemented by file systems that can evict a file's
// cached pages from memory.
type CacheDropper interface {
	// DropCache asks the system to evict the named file's clean cached
	// pages. It is advice: nothing about the file's content or durability
	// changes.
	DropCache(name string) error
}

// DropCache calls fileSystem's DropCache if it has one, and otherwise
// does nothing.
func DropCache(fileSystem FS, name string) error {
	if dropper, ok := fileSystem.(CacheDropper); ok {
		return dropper.DropCache(name)
	}
	return nil
}
