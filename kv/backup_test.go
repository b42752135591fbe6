package kv

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
)

// backupOf returns a backup file of the store's current state.
func backupOf(t testing.TB, store *Store) []byte {
	t.Helper()
	image, err := store.Backup()
	if err != nil {
		t.Fatal(err)
	}
	stream := NewBackupStream(image)
	data, err := io.ReadAll(stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBackupFileRoundTrip(t *testing.T) {
	for _, puts := range []int{0, 1, 7, 300} {
		source := newHarness(t, Options{})
		for i := range puts {
			source.put(fmt.Sprintf("key-%d", i), "value", 0)
		}
		data := backupOf(t, source.store)
		// etcdctl snapshot save checks exactly this.
		if len(data)%512 != sha256.Size {
			t.Fatalf("%d puts: backup of %d bytes; etcdctl wants a multiple of 512 plus 32", puts, len(data))
		}
		image, _, err := OpenBackup(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%d puts: %v", puts, err)
		}
		restored := newHarness(t, Options{})
		if err := restored.store.Restore(image); err != nil {
			t.Fatalf("%d puts: restore: %v", puts, err)
		}
		if fingerprint(t, restored.store) != fingerprint(t, source.store) {
			t.Fatalf("%d puts: the restored backup differs from its source", puts)
		}
	}
}

func TestOpenBackupRefusesDamage(t *testing.T) {
	source := newHarness(t, Options{})
	source.put("key", "value", 0)
	data := backupOf(t, source.store)
	for name, damaged := range map[string][]byte{
		"truncated":      data[:len(data)-1],
		"one byte more":  append(bytes.Clone(data), 0),
		"flipped bit":    flip(data, 10),
		"flipped digest": flip(data, len(data)-1),
		"empty":          nil,
	} {
		if _, _, err := OpenBackup(bytes.NewReader(damaged), int64(len(damaged))); !errors.Is(err, ErrCorruptBackup) {
			t.Errorf("%s: %v, want ErrCorruptBackup", name, err)
		}
	}
}

func flip(data []byte, at int) []byte {
	damaged := bytes.Clone(data)
	damaged[at] ^= 1
	return damaged
}

// FuzzOpenBackup feeds arbitrary files to OpenBackup: it may refuse them,
// never panic. (Random bytes almost never carry a valid SHA-256, so the
// image inside is fuzzed by FuzzInspectImage.)
func FuzzOpenBackup(f *testing.F) {
	source := newHarness(f, Options{})
	source.put("key", "value", 0)
	f.Add(backupOf(f, source.store))
	f.Add(make([]byte, 512+32))
	f.Fuzz(func(t *testing.T, data []byte) {
		image, _, err := OpenBackup(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if _, err := InspectImage(image); err != nil {
			t.Fatalf("OpenBackup accepted a file whose image does not check: %v", err)
		}
	})
}

// FuzzInspectImage feeds mutated images to InspectImage and Restore: both
// may refuse an image, never panic, and they agree: an image that
// InspectImage accepts restores, to the applied index and revision it
// reported.
func FuzzInspectImage(f *testing.F) {
	source := newHarness(f, Options{})
	fillStore(source, 5)
	f.Add(imageOf(f, source.store))
	empty := newHarness(f, Options{})
	f.Add(imageOf(f, empty.store))
	f.Fuzz(func(t *testing.T, image []byte) {
		info, inspectErr := InspectImage(bytes.NewReader(image))
		target := newHarness(t, Options{})
		restoreErr := target.store.Restore(bytes.NewReader(image))
		if inspectErr != nil {
			return
		}
		if restoreErr != nil {
			t.Fatalf("InspectImage accepted an image (%+v) that Restore refuses: %v", info, restoreErr)
		}
		if revision, _ := target.store.Revision(); target.store.AppliedIndex() != info.Applied || revision != info.Revision {
			t.Fatalf("restored to applied %d, revision %d; InspectImage said %d, %d", target.store.AppliedIndex(), revision, info.Applied, info.Revision)
		}
	})
}
