package kv

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// record is one version of a key, as stored in the current and history
// tables: a flags byte (bit 0: tombstone), create revision, mod revision,
// version and lease as varints, then the value to the end.
type record struct {
	create    int64
	mod       int64
	version   int64
	lease     int64
	value     []byte
	tombstone bool
}

const tombstoneFlag = 1

// encode returns the stored form of r.
func (r *record) encode() []byte {
	encoded := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(r.value))
	flags := byte(0)
	if r.tombstone {
		flags |= tombstoneFlag
	}
	encoded = append(encoded, flags)
	encoded = binary.AppendVarint(encoded, r.create)
	encoded = binary.AppendVarint(encoded, r.mod)
	encoded = binary.AppendVarint(encoded, r.version)
	encoded = binary.AppendVarint(encoded, r.lease)
	return append(encoded, r.value...)
}

// decodeRecord parses a stored record. The value is copied only when
// withValue is set, so keys-only reads skip it.
func decodeRecord(encoded []byte, withValue bool) (record, error) {
	var r record
	if len(encoded) < 1 || encoded[0]&^tombstoneFlag != 0 {
		return r, fmt.Errorf("kv: malformed record")
	}
	r.tombstone = encoded[0]&tombstoneFlag != 0
	rest := encoded[1:]
	for _, field := range []*int64{&r.create, &r.mod, &r.version, &r.lease} {
		value, n := binary.Varint(rest)
		if n <= 0 {
			return r, fmt.Errorf("kv: malformed record field")
		}
		*field = value
		rest = rest[n:]
	}
	if withValue && len(rest) > 0 {
		r.value = append([]byte(nil), rest...)
	}
	return r, nil
}

// keyValue returns r as etcd's KeyValue for key.
func (r *record) keyValue(key []byte) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{
		Key:            key,
		CreateRevision: r.create,
		ModRevision:    r.mod,
		Version:        r.version,
		Value:          r.value,
		Lease:          r.lease,
	}
}
