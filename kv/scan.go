package kv

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// scan calls visit for every key in [lower, upper) in order, with the key
// and value (valid only during the call), and stops at visit's first
// error. what names the data for error messages.
func scan(reader pebble.Reader, what string, lower, upper []byte, visit func(key, value []byte) error) error {
	iterator, err := reader.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("kv: read %s: %w", what, err)
	}
	defer iterator.Close()
	for valid := iterator.First(); valid; valid = iterator.Next() {
		value, err := iterator.ValueAndErr()
		if err != nil {
			return fmt.Errorf("kv: read %s: %w", what, err)
		}
		if err := visit(iterator.Key(), value); err != nil {
			return err
		}
	}
	if err := iterator.Error(); err != nil {
		return fmt.Errorf("kv: read %s: %w", what, err)
	}
	return nil
}

// scanTable is scan over one whole table.
func scanTable(reader pebble.Reader, what string, prefix byte, visit func(key, value []byte) error) error {
	lower, upper := tableBounds(prefix)
	return scan(reader, what, lower, upper, visit)
}

// tableIsEmpty reports whether the table of prefix holds no key.
func tableIsEmpty(reader pebble.Reader, prefix byte) (bool, error) {
	lower, upper := tableBounds(prefix)
	iterator, err := reader.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return false, err
	}
	found := iterator.First()
	return !found, errors.Join(iterator.Error(), iterator.Close())
}
