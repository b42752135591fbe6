package kv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// collectOptions says what a key collection needs.
type collectOptions struct {
	// limit stops collecting after so many key-values (0: no limit); the
	// count still covers the whole interval, as etcd's, unless stopAtLimit.
	limit int64
	// countOnly collects nothing and only counts.
	countOnly bool
	// withValues reads values; keys-only reads skip them.
	withValues bool
	// stopAtLimit stops reading once limit key-values are collected, so
	// the count covers only them (etcd's range without total count, which
	// its RangeStream chunks use).
	stopAtLimit bool
}

// collected is the key-values of an interval at one revision, in key
// order, and how many keys the interval holds at that revision.
type collected struct {
	keyValues []*mvccpb.KeyValue
	count     int64
}

// errLimitReached stops a scan that has collected enough.
var errLimitReached = errors.New("kv: collection limit reached")

// full reports whether a collection holds its limit of key-values.
func (c *collected) full(options collectOptions) bool {
	return options.limit > 0 && int64(len(c.keyValues)) >= options.limit
}

// add counts one live key and keeps it if the limit allows.
func (c *collected) add(key []byte, r record, options collectOptions) {
	c.count++
	if options.countOnly || c.full(options) {
		return
	}
	c.keyValues = append(c.keyValues, r.keyValue(bytes.Clone(key)))
}

// collectKeys returns the keys of the etcd interval [key, end) (end nil:
// the key alone; "\x00": every key from key on) as of revision, read from
// reader whose current revision is current.
func collectKeys(reader pebble.Reader, key, end []byte, revision, current int64, options collectOptions) (collected, error) {
	if revision >= current {
		return collectCurrent(reader, key, end, options)
	}
	return collectHistory(reader, key, end, revision, options)
}

// isEmptyInterval reports whether [key, end) holds no key: an end at or
// before the key (Pebble needs its lower bound below its upper bound).
func isEmptyInterval(key, end []byte) bool {
	return end != nil && !isOpenEnd(end) && bytes.Compare(end, key) <= 0
}

// collectCurrent reads the current table: one entry per live key.
func collectCurrent(reader pebble.Reader, key, end []byte, options collectOptions) (collected, error) {
	var result collected
	if isEmptyInterval(key, end) {
		return result, nil
	}
	if end == nil {
		r, found, err := currentRecord(reader, key)
		if found {
			if !options.withValues {
				r.value = nil
			}
			result.add(key, r, options)
		}
		return result, err
	}
	lower, upper := currentBounds(key, end)
	err := scan(reader, "current keys", lower, upper, func(stored, value []byte) error {
		if options.countOnly || result.full(options) {
			if options.stopAtLimit && !options.countOnly {
				return errLimitReached
			}
			result.count++ // counted, not collected: no need to decode
			return nil
		}
		r, err := decodeRecord(value, options.withValues)
		if err == nil {
			result.add(stored[1:], r, options)
		}
		return err
	})
	if errors.Is(err, errLimitReached) {
		err = nil
	}
	return result, err
}

// collectHistory reads the history table: for each key in the interval,
// the latest version at or before revision, skipped if it is a tombstone.
func collectHistory(reader pebble.Reader, key, end []byte, revision int64, options collectOptions) (collected, error) {
	var result collected
	if isEmptyInterval(key, end) {
		return result, nil
	}
	lower, upper := historyBounds(key, end)
	iterator, err := reader.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return result, fmt.Errorf("kv: read history: %w", err)
	}
	defer iterator.Close()
	valid := iterator.First()
	for valid && !(options.stopAtLimit && !options.countOnly && result.full(options)) {
		prefix, main, _, err := parseHistoryKey(iterator.Key())
		if err != nil {
			return result, err
		}
		prefix = bytes.Clone(prefix)
		if main > revision {
			// Newer versions first: jump to the latest at or before
			// revision, which may belong to the next key.
			valid = iterator.SeekGE(historySeekKey(prefix, revision))
			if !valid || !bytes.HasPrefix(iterator.Key(), prefix) {
				continue
			}
		}
		value, err := iterator.ValueAndErr()
		if err != nil {
			return result, fmt.Errorf("kv: read history value: %w", err)
		}
		r, err := decodeRecord(value, options.withValues && !options.countOnly)
		if err != nil {
			return result, err
		}
		if !r.tombstone {
			userKey, err := unescapeKey(prefix[1:])
			if err != nil {
				return result, err
			}
			result.add(userKey, r, options)
		}
		valid = iterator.SeekGE(nextPrefix(prefix))
	}
	if err := iterator.Error(); err != nil {
		return result, fmt.Errorf("kv: read history: %w", err)
	}
	return result, nil
}

// currentRecord returns the latest version of a live key, or found false.
func currentRecord(reader pebble.Reader, key []byte) (r record, found bool, err error) {
	value, closer, err := reader.Get(currentKey(key))
	if err == pebble.ErrNotFound {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("kv: read key: %w", err)
	}
	defer closer.Close()
	r, err = decodeRecord(value, true)
	return r, err == nil, err
}

// versionBefore returns key's version at the revision before revision (a
// watch event's previous key-value, as etcd reads it), nil if the key did
// not exist then or that version was compacted away.
func versionBefore(reader pebble.Reader, key []byte, revision int64) (*mvccpb.KeyValue, error) {
	r, found, err := recordAt(reader, key, revision-1)
	if err != nil || !found {
		return nil, err
	}
	return r.keyValue(key), nil
}

// recordAt returns the version of key at revision (the latest at or before
// it), or found false when the key did not exist then.
func recordAt(reader pebble.Reader, key []byte, revision int64) (r record, found bool, err error) {
	result, err := collectHistory(reader, key, nil, revision, collectOptions{withValues: true})
	if err != nil || len(result.keyValues) == 0 {
		return r, false, err
	}
	kv := result.keyValues[0]
	return record{create: kv.CreateRevision, mod: kv.ModRevision, version: kv.Version, lease: kv.Lease, value: kv.Value}, true, nil
}
