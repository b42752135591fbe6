package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// A snapshot image is every Pebble key of the store, in order:
//
//	magic     "LSKVIMG" then format version byte 1
//	records   tag 1, uvarint key length, key, uvarint value length, value
//	end       tag 0, uvarint record count
//	checksum  CRC-32C (Castagnoli) of all the bytes before it, big-endian
//
// The meta keys inside carry the applied index, revisions and compaction
// state, so an image restores the whole state machine.
var imageMagic = []byte("LSKVIMG\x01")

const (
	imageRecordTag = 1
	imageEndTag    = 0
	// maximumImageField bounds a key or value length read from an image,
	// so a corrupt length cannot make Restore allocate without limit.
	maximumImageField = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// imageEncoder appends image parts to a buffer and checksums them.
type imageEncoder struct {
	buffer  bytes.Buffer
	hash    hash.Hash32
	records uint64
}

func newImageEncoder() *imageEncoder {
	encoder := &imageEncoder{hash: crc32.New(castagnoli)}
	encoder.write(imageMagic)
	return encoder
}

func (e *imageEncoder) write(data []byte) {
	e.buffer.Write(data)
	e.hash.Write(data)
}

// record appends one key and value.
func (e *imageEncoder) record(key, value []byte) {
	header := binary.AppendUvarint([]byte{imageRecordTag}, uint64(len(key)))
	e.write(header)
	e.write(key)
	e.write(binary.AppendUvarint(nil, uint64(len(value))))
	e.write(value)
	e.records++
}

// finish appends the end marker and the checksum.
func (e *imageEncoder) finish() {
	e.write(binary.AppendUvarint([]byte{imageEndTag}, e.records))
	e.buffer.Write(binary.BigEndian.AppendUint32(nil, e.hash.Sum32()))
}

// imageDecoder reads an image and checks it as it goes.
type imageDecoder struct {
	reader   *bufio.Reader
	hash     hash.Hash32
	records  uint64
	previous []byte
}

// errCorruptImage marks every reason an image is refused.
var errCorruptImage = errors.New("kv: corrupt snapshot image")

func newImageDecoder(image io.Reader) (*imageDecoder, error) {
	decoder := &imageDecoder{reader: bufio.NewReaderSize(image, 64<<10), hash: crc32.New(castagnoli)}
	magic := make([]byte, len(imageMagic))
	if err := decoder.readFull(magic); err != nil {
		return nil, err
	}
	if !bytes.Equal(magic, imageMagic) {
		return nil, fmt.Errorf("%w: bad magic or version %q", errCorruptImage, magic)
	}
	return decoder, nil
}

// readFull reads exactly len(destination) bytes and checksums them.
func (d *imageDecoder) readFull(destination []byte) error {
	if _, err := io.ReadFull(d.reader, destination); err != nil {
		return fmt.Errorf("%w: truncated: %v", errCorruptImage, err)
	}
	d.hash.Write(destination)
	return nil
}

// readByte reads and checksums one byte.
func (d *imageDecoder) readByte() (byte, error) {
	var one [1]byte
	err := d.readFull(one[:])
	return one[0], err
}

// readUvarint reads and checksums one uvarint.
func (d *imageDecoder) readUvarint() (uint64, error) {
	var value uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := d.readByte()
		if err != nil {
			return 0, err
		}
		value |= uint64(b&0x7F) << shift
		if b < 0x80 {
			return value, nil
		}
	}
	return 0, fmt.Errorf("%w: varint overflow", errCorruptImage)
}

// readField reads a length-prefixed key or value.
func (d *imageDecoder) readField() ([]byte, error) {
	length, err := d.readUvarint()
	if err != nil {
		return nil, err
	}
	if length > maximumImageField {
		return nil, fmt.Errorf("%w: field of %d bytes", errCorruptImage, length)
	}
	field := make([]byte, length)
	return field, d.readFull(field)
}

// next returns the next record, or done true after the end marker and a
// matching checksum, count and end of stream. Keys must be strictly
// increasing and belong to a known table.
func (d *imageDecoder) next() (key, value []byte, done bool, err error) {
	tag, err := d.readByte()
	if err != nil {
		return nil, nil, false, err
	}
	switch tag {
	case imageEndTag:
		return nil, nil, true, d.finish()
	case imageRecordTag:
	default:
		return nil, nil, false, fmt.Errorf("%w: unknown record tag %d", errCorruptImage, tag)
	}
	if key, err = d.readField(); err != nil {
		return nil, nil, false, err
	}
	if value, err = d.readField(); err != nil {
		return nil, nil, false, err
	}
	if len(key) == 0 || !knownTable(key[0]) || (d.previous != nil && bytes.Compare(d.previous, key) >= 0) {
		return nil, nil, false, fmt.Errorf("%w: key %q out of order or of no table", errCorruptImage, key)
	}
	d.previous = key
	d.records++
	return key, value, false, nil
}

// finish checks the record count, the checksum and that nothing follows.
func (d *imageDecoder) finish() error {
	count, err := d.readUvarint()
	if err != nil {
		return err
	}
	if count != d.records {
		return fmt.Errorf("%w: %d records, end marker says %d", errCorruptImage, d.records, count)
	}
	computed := d.hash.Sum32()
	var stored [4]byte
	if _, err := io.ReadFull(d.reader, stored[:]); err != nil {
		return fmt.Errorf("%w: truncated checksum: %v", errCorruptImage, err)
	}
	if binary.BigEndian.Uint32(stored[:]) != computed {
		return fmt.Errorf("%w: checksum mismatch", errCorruptImage)
	}
	if _, err := d.reader.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: data after the checksum", errCorruptImage)
	}
	return nil
}

// knownTable reports whether prefix is one of the store's tables.
func knownTable(prefix byte) bool {
	switch prefix {
	case metaPrefix, currentPrefix, historyPrefix, eventPrefix, leasePrefix, leaseKeyPrefix, alarmPrefix, memberPrefix,
		authMetaPrefix, userPrefix, rolePrefix:
		return true
	}
	return false
}
