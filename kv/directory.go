package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The store's directory holds one or more Pebble instances in
// subdirectories named db-NNNNNN and a file, CURRENT-STORE, naming the one
// in use. Restore builds a new instance beside the old one and switches
// CURRENT-STORE to it with an atomic rename, so a crash leaves either the
// old state or the new one; leftovers are removed by the next Open.
const (
	currentFileName   = "CURRENT-STORE"
	temporaryFileName = "CURRENT-STORE.tmp"
	instancePrefix    = "db-"
)

// storeDirectory is the directory that holds a store's instances.
type storeDirectory struct {
	fs   vfs.FS
	path string
}

// instancePath returns the path of the instance called name.
func (d storeDirectory) instancePath(name string) string {
	return d.fs.PathJoin(d.path, name)
}

// readCurrent returns the instance CURRENT-STORE names; exists is false
// when there is no CURRENT-STORE yet.
func (d storeDirectory) readCurrent() (name string, exists bool, err error) {
	file, err := d.fs.Open(d.fs.PathJoin(d.path, currentFileName))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("kv: open %s: %w", currentFileName, err)
	}
	defer file.Close()
	content, err := io.ReadAll(io.LimitReader(file, 64))
	if err != nil {
		return "", false, fmt.Errorf("kv: read %s: %w", currentFileName, err)
	}
	name = strings.TrimSuffix(string(content), "\n")
	if _, ok := instanceNumber(name); !ok {
		return "", false, fmt.Errorf("kv: %s names %q, not a store instance", currentFileName, name)
	}
	return name, true, nil
}

// writeCurrent makes name the instance in use: write a temporary file,
// sync it, rename it over CURRENT-STORE, sync the directory. renamed
// tells whether the rename happened: after it, CURRENT-STORE names the new
// instance even when the directory sync then fails.
func (d storeDirectory) writeCurrent(name string) (renamed bool, err error) {
	temporary := d.fs.PathJoin(d.path, temporaryFileName)
	file, err := d.fs.Create(temporary, vfs.WriteCategoryUnspecified)
	if err != nil {
		return false, fmt.Errorf("kv: create %s: %w", temporaryFileName, err)
	}
	_, err = file.Write([]byte(name + "\n"))
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return false, fmt.Errorf("kv: write %s: %w", temporaryFileName, err)
	}
	if err := d.fs.Rename(temporary, d.fs.PathJoin(d.path, currentFileName)); err != nil {
		return false, fmt.Errorf("kv: rename %s: %w", temporaryFileName, err)
	}
	return true, d.sync()
}

// sync makes the directory's entries durable.
func (d storeDirectory) sync() error {
	directory, err := d.fs.OpenDir(d.path)
	if err != nil {
		return fmt.Errorf("kv: open directory %s: %w", d.path, err)
	}
	defer directory.Close()
	if err := directory.Sync(); err != nil {
		return fmt.Errorf("kv: sync directory %s: %w", d.path, err)
	}
	return nil
}

// instances lists the instance subdirectories present.
func (d storeDirectory) instances() ([]string, error) {
	entries, err := d.fs.List(d.path)
	if err != nil {
		return nil, fmt.Errorf("kv: list %s: %w", d.path, err)
	}
	var names []string
	for _, entry := range entries {
		if _, ok := instanceNumber(entry); ok {
			names = append(names, entry)
		}
	}
	return names, nil
}

// nextName returns a name no instance has used.
func (d storeDirectory) nextName() (string, error) {
	names, err := d.instances()
	if err != nil {
		return "", err
	}
	highest := 0
	for _, name := range names {
		if number, _ := instanceNumber(name); number > highest {
			highest = number
		}
	}
	return fmt.Sprintf("%s%06d", instancePrefix, highest+1), nil
}

// removeAllBut deletes every instance except keep, and a leftover
// temporary pointer file: what a crashed Restore or first Open left.
func (d storeDirectory) removeAllBut(keep string) error {
	names, err := d.instances()
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == keep {
			continue
		}
		if err := d.fs.RemoveAll(d.instancePath(name)); err != nil {
			return fmt.Errorf("kv: remove leftover instance %s: %w", name, err)
		}
	}
	if err := d.fs.Remove(d.fs.PathJoin(d.path, temporaryFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kv: remove %s: %w", temporaryFileName, err)
	}
	return nil
}

// instanceNumber parses an instance name.
func instanceNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, instancePrefix)
	if !ok || len(digits) != 6 {
		return 0, false
	}
	number, err := strconv.Atoi(digits)
	return number, err == nil && number > 0
}
