package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Table prefixes: the first byte of every Pebble key names its table (see
// doc.go for the layout and what each table holds).
const (
	metaPrefix     = 'M'
	currentPrefix  = 'c'
	historyPrefix  = 'h'
	eventPrefix    = 'e'
	leasePrefix    = 'l'
	leaseKeyPrefix = 'k'
	alarmPrefix    = 'a'
	memberPrefix   = 'm'
)

// Meta keys: single values that describe the whole store.
var (
	metaFormatKey        = []byte("M/format")
	metaAppliedKey       = []byte("M/applied")
	metaRevisionKey      = []byte("M/revision")
	metaCompactedKey     = []byte("M/compacted")
	metaCompactCursorKey = []byte("M/compact-cursor")
)

// formatVersion is stored under metaFormatKey; Open refuses any other.
const formatVersion = "lockstep-kv-1"

// revisionSize is the length of an encoded (main, sub) revision pair.
const revisionSize = 16

// tableBounds returns the lower and upper bound of one whole table.
func tableBounds(prefix byte) (lower, upper []byte) {
	return []byte{prefix}, []byte{prefix + 1}
}

// currentKey is the key of a live key's latest version.
func currentKey(key []byte) []byte {
	return append([]byte{currentPrefix}, key...)
}

// currentBounds returns the Pebble bounds of the etcd interval [key, end):
// end nil means the single key, end "\x00" every key from key on.
func currentBounds(key, end []byte) (lower, upper []byte) {
	lower = currentKey(key)
	switch {
	case end == nil:
		upper = append(currentKey(key), 0)
	case isOpenEnd(end):
		upper = []byte{currentPrefix + 1}
	default:
		upper = currentKey(end)
	}
	return lower, upper
}

// isOpenEnd reports whether an etcd range end means "to the end of the
// key space".
func isOpenEnd(end []byte) bool {
	return len(end) == 1 && end[0] == 0
}

// escapeKey appends key to destination with every 0x00 byte written as
// 0x00 0xFF, then the terminator 0x00 0x01. The result sorts like the raw
// keys, and no encoded key is a prefix of another, so a key's versions sit
// together and before the next key's.
func escapeKey(destination, key []byte) []byte {
	for _, b := range key {
		if b == 0 {
			destination = append(destination, 0, 0xFF)
			continue
		}
		destination = append(destination, b)
	}
	return append(destination, 0, 1)
}

// escapeBound is escapeKey without the terminator: the lower bound of every
// encoded key at or after key.
func escapeBound(destination, key []byte) []byte {
	encoded := escapeKey(destination, key)
	return encoded[:len(encoded)-2]
}

// unescapeKey reverses escapeKey on the encoded key part of a history key
// (without its revision suffix).
func unescapeKey(encoded []byte) ([]byte, error) {
	if len(encoded) < 2 || encoded[len(encoded)-2] != 0 || encoded[len(encoded)-1] != 1 {
		return nil, fmt.Errorf("kv: history key without terminator")
	}
	encoded = encoded[:len(encoded)-2]
	key := make([]byte, 0, len(encoded))
	for i := 0; i < len(encoded); i++ {
		if encoded[i] != 0 {
			key = append(key, encoded[i])
			continue
		}
		if i+1 >= len(encoded) || encoded[i+1] != 0xFF {
			return nil, fmt.Errorf("kv: history key with a bad escape")
		}
		key = append(key, 0)
		i++
	}
	return key, nil
}

// historyKeyPrefix returns the prefix shared by all versions of key.
func historyKeyPrefix(key []byte) []byte {
	return escapeKey([]byte{historyPrefix}, key)
}

// historyKey is the key of one version of key, written at (main, sub).
// Revisions are stored inverted so that a key's newest version comes first
// and a seek to (key, revision) lands on the latest version at or before it.
func historyKey(key []byte, main, sub int64) []byte {
	encoded := historyKeyPrefix(key)
	encoded = binary.BigEndian.AppendUint64(encoded, ^uint64(main))
	return binary.BigEndian.AppendUint64(encoded, ^uint64(sub))
}

// historySeekKey is where the latest version of key at or before revision
// main starts: the largest sub revision of main sorts first.
func historySeekKey(keyPrefix []byte, main int64) []byte {
	encoded := append([]byte(nil), keyPrefix...)
	encoded = binary.BigEndian.AppendUint64(encoded, ^uint64(main))
	return binary.BigEndian.AppendUint64(encoded, 0)
}

// historyBounds returns the Pebble bounds of every version of every key in
// the etcd interval [key, end).
func historyBounds(key, end []byte) (lower, upper []byte) {
	lower = escapeBound([]byte{historyPrefix}, key)
	switch {
	case end == nil:
		upper = nextPrefix(historyKeyPrefix(key))
	case isOpenEnd(end):
		upper = []byte{historyPrefix + 1}
	default:
		upper = escapeBound([]byte{historyPrefix}, end)
	}
	return lower, upper
}

// parseHistoryKey splits a history key into its prefix (table byte and
// encoded key) and its revision.
func parseHistoryKey(encoded []byte) (keyPrefix []byte, main, sub int64, err error) {
	if len(encoded) < 1+2+revisionSize || encoded[0] != historyPrefix {
		return nil, 0, 0, fmt.Errorf("kv: malformed history key %q", encoded)
	}
	split := len(encoded) - revisionSize
	main = int64(^binary.BigEndian.Uint64(encoded[split:]))
	sub = int64(^binary.BigEndian.Uint64(encoded[split+8:]))
	return encoded[:split], main, sub, nil
}

// nextPrefix returns the smallest key greater than every key that starts
// with prefix. prefix must not be all 0xFF bytes (table prefixes never are).
func nextPrefix(prefix []byte) []byte {
	next := bytes.Clone(prefix)
	for i := len(next) - 1; i >= 0; i-- {
		if next[i] != 0xFF {
			next[i]++
			return next[:i+1]
		}
	}
	panic("kv: nextPrefix of an all-0xFF prefix")
}

// eventKey is the key of the change made at (main, sub) in the event log.
func eventKey(main, sub int64) []byte {
	encoded := make([]byte, 0, 1+revisionSize)
	encoded = append(encoded, eventPrefix)
	encoded = binary.BigEndian.AppendUint64(encoded, uint64(main))
	return binary.BigEndian.AppendUint64(encoded, uint64(sub))
}

// parseEventKey returns the revision of an event log key.
func parseEventKey(encoded []byte) (main, sub int64, err error) {
	if len(encoded) != 1+revisionSize || encoded[0] != eventPrefix {
		return 0, 0, fmt.Errorf("kv: malformed event key %q", encoded)
	}
	return int64(binary.BigEndian.Uint64(encoded[1:])), int64(binary.BigEndian.Uint64(encoded[9:])), nil
}

// leaseIDBytes encodes a lease ID so that the byte order is the signed
// order of IDs.
func leaseIDBytes(destination []byte, id int64) []byte {
	return binary.BigEndian.AppendUint64(destination, uint64(id)^(1<<63))
}

// leaseKey is the key of a granted lease.
func leaseKey(id int64) []byte {
	return leaseIDBytes([]byte{leasePrefix}, id)
}

// parseLeaseKey returns the ID in a lease key.
func parseLeaseKey(encoded []byte) (int64, error) {
	if len(encoded) != 9 || encoded[0] != leasePrefix {
		return 0, fmt.Errorf("kv: malformed lease key %q", encoded)
	}
	return int64(binary.BigEndian.Uint64(encoded[1:]) ^ (1 << 63)), nil
}

// leaseKeysPrefix is the prefix of the attachments of lease id.
func leaseKeysPrefix(id int64) []byte {
	return leaseIDBytes([]byte{leaseKeyPrefix}, id)
}

// leaseAttachmentKey records that key is attached to lease id.
func leaseAttachmentKey(id int64, key []byte) []byte {
	return append(leaseKeysPrefix(id), key...)
}

// alarmKey is the key of an active alarm of one member.
func alarmKey(alarm int32, member uint64) []byte {
	encoded := binary.BigEndian.AppendUint32([]byte{alarmPrefix}, uint32(alarm))
	return binary.BigEndian.AppendUint64(encoded, member)
}

// parseAlarmKey returns the alarm type and member of an alarm key.
func parseAlarmKey(encoded []byte) (alarm int32, member uint64, err error) {
	if len(encoded) != 13 || encoded[0] != alarmPrefix {
		return 0, 0, fmt.Errorf("kv: malformed alarm key %q", encoded)
	}
	return int32(binary.BigEndian.Uint32(encoded[1:])), binary.BigEndian.Uint64(encoded[5:]), nil
}

// memberKey is the key of a member's attributes.
func memberKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{memberPrefix}, id)
}

// parseMemberKey returns the member ID of a member key.
func parseMemberKey(encoded []byte) (uint64, error) {
	if len(encoded) != 9 || encoded[0] != memberPrefix {
		return 0, fmt.Errorf("kv: malformed member key %q", encoded)
	}
	return binary.BigEndian.Uint64(encoded[1:]), nil
}

// encodeUint64 returns value as 8 big-endian bytes (meta values).
func encodeUint64(value uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, value)
}

// decodeUint64 reads a meta value written by encodeUint64.
func decodeUint64(name string, value []byte) (uint64, error) {
	if len(value) != 8 {
		return 0, fmt.Errorf("kv: meta %s has %d bytes, want 8", name, len(value))
	}
	return binary.BigEndian.Uint64(value), nil
}
