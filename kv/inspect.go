package kv

import (
	"bytes"
	"fmt"
	"io"
)

// ImageInfo describes a store image (from Snapshot or Backup), as
// lockstep snapshot status prints it.
type ImageInfo struct {
	// Applied is the Raft index of the last entry the image includes.
	Applied uint64
	// Revision is the store's revision; Compacted the last compaction's
	// revision (-1 before any).
	Revision, Compacted int64
	// Keys counts the live keys; Versions the stored key versions
	// (history not yet compacted away); Leases the leases.
	Keys, Versions, Leases int
	// Records and Bytes are the image's record count and size.
	Records int
	Bytes   int64
}

// InspectImage reads a whole image, checking its format, record order,
// count and checksum as Restore does, and summarizes it. It writes
// nothing. Callable from any goroutine.
func InspectImage(image io.Reader) (ImageInfo, error) {
	counter := &countingReader{reader: image}
	decoder, err := newImageDecoder(counter)
	if err != nil {
		return ImageInfo{}, err
	}
	info := ImageInfo{Compacted: -1}
	var format []byte
	for {
		key, value, done, err := decoder.next()
		if err != nil {
			return ImageInfo{}, err
		}
		if done {
			break
		}
		info.Records++
		switch {
		case key[0] == currentPrefix:
			info.Keys++
		case key[0] == historyPrefix:
			info.Versions++
		case key[0] == leasePrefix:
			info.Leases++
		case bytes.Equal(key, metaFormatKey):
			format = bytes.Clone(value)
		case bytes.Equal(key, metaAppliedKey):
			info.Applied, err = decodeUint64(string(key), value)
		case bytes.Equal(key, metaRevisionKey):
			var revision uint64
			revision, err = decodeUint64(string(key), value)
			info.Revision = int64(revision)
		case bytes.Equal(key, metaCompactedKey):
			var compacted uint64
			compacted, err = decodeUint64(string(key), value)
			info.Compacted = int64(compacted)
		}
		if err != nil {
			return ImageInfo{}, err
		}
	}
	if format == nil {
		return ImageInfo{}, fmt.Errorf("%w: no store meta data", errCorruptImage)
	}
	if string(format) != formatVersion {
		return ImageInfo{}, fmt.Errorf("kv: image of store format %q, this version reads %q", format, formatVersion)
	}
	info.Bytes = counter.count
	return info, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	reader io.Reader
	count  int64
}

func (c *countingReader) Read(destination []byte) (int, error) {
	n, err := c.reader.Read(destination)
	c.count += int64(n)
	return n, err
}
