package node

import (
	crand "crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// A read request's context must never be used twice, not even by the same
// node after a restart: a leader's answer to a read made before the
// restart, held back in the network, would otherwise release a new read at
// the old index, and the read would see stale state. Contexts are
// therefore numbered for the whole process, behind a random prefix drawn
// once per process (so a restarted process does not repeat them either).
var (
	readContextPrefix   = newReadContextPrefix()
	readContextSequence atomic.Uint64
)

func newReadContextPrefix() string {
	var random [8]byte
	crand.Read(random[:]) // never fails (Go 1.24+)
	return "read-" + hex.EncodeToString(random[:]) + "-"
}

// newReadContext returns a read context no other read in this process, or
// (with overwhelming probability) in any earlier run, has used. Safe for
// concurrent use.
func newReadContext() string {
	return readContextPrefix + strconv.FormatUint(readContextSequence.Add(1), 10)
}
