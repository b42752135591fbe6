package snap

import (
	"errors"
	"fmt"
)

// ErrNoSnapshot is returned by Load when the directory holds no snapshot.
var ErrNoSnapshot = errors.New("snap: no snapshot")

// CorruptionError reports a snapshot file that fails verification: a
// checksum mismatch, a malformed header, or content that does not match
// its name.
type CorruptionError struct {
	File   string
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("snap: corrupt snapshot %s: %s", e.File, e.Reason)
}
