package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// checkListenAddresses binds, and releases at once, every address the
// member will listen on, before anything is created on disk: a port in use
// is reported first, as the cause, naming the flag, and leaves nothing
// behind. (Another process may still take a port in the instant before the
// member binds it; Start then fails and cleans up all the same.)
func checkListenAddresses(config Config) error {
	for _, group := range []struct {
		flag string
		urls []string
	}{
		{"--listen-peer-urls", config.ListenPeerURLs[:1]},
		{"--listen-client-urls", config.ListenClientURLs},
		{"--listen-metrics-urls", config.ListenMetricsURLs},
	} {
		for _, raw := range group.urls {
			address, err := hostPort(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", group.flag, err)
			}
			listener, err := net.Listen("tcp", address)
			if err != nil {
				return listenError(group.flag, raw, err)
			}
			listener.Close()
		}
	}
	return nil
}

// listenError puts the reason a listener failed first.
func listenError(flag, raw string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("address already in use: %s %s: another process listens there (another member on this machine?)", flag, raw)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("address not available: %s %s: this machine has no such address", flag, raw)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("permission denied: %s %s: ports below 1024 need privileges", flag, raw)
	}
	return fmt.Errorf("cannot listen: %s %s: %w", flag, raw, err)
}

// directoryLock holds an exclusive lock on a data directory while a member
// uses it, so that a second member started on it is refused with a message
// that says so, before it touches anything.
type directoryLock struct{ file *os.File }

// lockDataDirectory locks directory (flock on the directory itself: no
// file is added to it).
func lockDataDirectory(directory string) (*directoryLock, error) {
	file, err := os.Open(directory)
	if err != nil {
		return nil, fmt.Errorf("server: open data directory: %w", err)
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		file.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory in use: %s is locked by another process (a lockstep member running with this --data-dir?)", directory)
		}
		return nil, fmt.Errorf("server: lock data directory %s: %w", directory, err)
	}
	return &directoryLock{file: file}, nil
}

// release unlocks the directory (closing the descriptor drops the lock).
func (l *directoryLock) release() {
	if l != nil {
		l.file.Close()
	}
}

// creation remembers what a member's first start created in its data
// directory, so a start that fails removes it again rather than leave a
// directory that holds a store and a log but no member.json.
type creation struct {
	directory     string
	existedBefore bool
	entriesBefore map[string]bool
}

func noteCreation(directory string) creation {
	c := creation{directory: directory, entriesBefore: map[string]bool{}}
	entries, err := os.ReadDir(directory)
	if err == nil {
		c.existedBefore = true
		for _, entry := range entries {
			c.entriesBefore[entry.Name()] = true
		}
	}
	return c
}

// undo removes what was created since noteCreation: the directory itself
// if it did not exist, else the entries it did not hold.
func (c creation) undo() error {
	if !c.existedBefore {
		return os.RemoveAll(c.directory)
	}
	entries, err := os.ReadDir(c.directory)
	if err != nil {
		return err
	}
	var errs []error
	for _, entry := range entries {
		if !c.entriesBefore[entry.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(c.directory, entry.Name())))
		}
	}
	return errors.Join(errs...)
}
