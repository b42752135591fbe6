package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lockstepdb/lockstep/raft"
)

// input is something waiting for a node whose core is busy persisting.
type input struct {
	kind    eventKind // eventTick, eventDeliver or eventPropose
	message raft.Message
	command []byte
}

// node is one simulated server: a core, its durable storage, and a durable
// state machine (its applied index survives crashes, as a real state
// machine that stores its applied index with its data would).
type node struct {
	id          raft.NodeID
	core        *raft.Core
	storage     *raft.MemoryStorage
	up          bool
	incarnation int
	// tickInterval is this node's clock rate (skewed per node).
	tickInterval uint64
	// pending is the Ready being persisted; the core takes no input until
	// it is advanced, so inputs queue in inbox meanwhile.
	pending *raft.Ready
	inbox   []input
	// writes, with AsyncPersistence, are the Readies taken whose writes
	// are in flight, oldest first; diskFreeAt is when the last of them
	// completes (writes complete in order).
	writes     []raft.Ready
	diskFreeAt uint64
	applied    uint64
	// kv is the node's state machine: a key-value map, durable like its
	// applied index.
	kv map[string]string
	// reads are linearizable reads waiting for their read state or for
	// the state machine to reach it.
	reads map[string]*pendingRead
	// volatile mirrors the node's whole log (as handed out in Readies);
	// durable mirrors what its storage holds.
	volatile logMirror
	durable  logMirror
	// summary is the core's role, term, leader and commit after the last
	// input, to notice changes.
	summary raft.Summary
	// membershipAtCrash is the configuration the core knew when it last
	// crashed, for describing a down node in traces.
	membershipAtCrash raft.Membership
	// ticks counts the node's ticks since it started; leaderContact is the
	// tick at which it last heard from the leader of term contactTerm.
	ticks         uint64
	leaderContact uint64
	contactTerm   uint64
	// crashBeforeSending makes the node crash as its current Ready is
	// taken, before any of its messages leave or its write starts.
	crashBeforeSending bool
}

// logMirror holds, for each log index, the entry's term and a hash of the
// whole log prefix up to it: two logs agree up to i exactly when their
// prefix hashes at i are equal.
type logMirror struct {
	terms  []uint64 // terms[i-1] is the term at index i
	hashes []uint64
}

func (m *logMirror) lastIndex() uint64 { return uint64(len(m.terms)) }

func (m *logMirror) prefixHash(index uint64) uint64 {
	if index == 0 {
		return 0
	}
	return m.hashes[index-1]
}

func (m *logMirror) term(index uint64) uint64 {
	if index == 0 || index > m.lastIndex() {
		return 0
	}
	return m.terms[index-1]
}

// append records entries, replacing any suffix from the first one on.
func (m *logMirror) append(entries []raft.Entry) {
	if len(entries) == 0 {
		return
	}
	first := entries[0].Index
	if first > m.lastIndex()+1 {
		panic(fmt.Sprintf("sim: log mirror: entries start at %d past last index %d", first, m.lastIndex()))
	}
	m.terms = m.terms[:first-1]
	m.hashes = m.hashes[:first-1]
	for _, entry := range entries {
		m.terms = append(m.terms, entry.Term)
		m.hashes = append(m.hashes, chainHash(m.prefixHash(entry.Index-1), entry))
	}
}

func (m *logMirror) clone() logMirror {
	return logMirror{terms: append([]uint64(nil), m.terms...), hashes: append([]uint64(nil), m.hashes...)}
}

// chainHash extends a prefix hash by one entry (FNV-1a, 64 bits).
func chainHash(previous uint64, entry raft.Entry) uint64 {
	const prime = 1099511628211
	hash := previous ^ 14695981039346656037
	mix := func(value uint64) {
		for i := 0; i < 8; i++ {
			hash ^= value & 0xff
			hash *= prime
			value >>= 8
		}
	}
	mix(entry.Index)
	mix(entry.Term)
	mix(uint64(entry.Type))
	for _, b := range entry.Data {
		hash ^= uint64(b)
		hash *= prime
	}
	return hash
}

// entryHash identifies one entry's content, for state machine safety.
func entryHash(entry raft.Entry) uint64 { return chainHash(0, entry) }

// pendingRead is a read issued on a node.
type pendingRead struct {
	key   string
	call  uint64
	index uint64 // 0 until the read state arrives
	// committedAtCall is the cluster's commit index, as the checker knew
	// it, when the read was issued: a linearizable read index is never
	// below it.
	committedAtCall uint64
}

// encodeState serializes a state machine for a snapshot, deterministically.
func encodeState(kv map[string]string) []byte {
	keys := make([]string, 0, len(kv))
	for key := range kv {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	var out []byte
	for _, key := range keys {
		out = append(out, key...)
		out = append(out, '=')
		out = append(out, kv[key]...)
		out = append(out, '\n')
	}
	return out
}

// decodeState parses what encodeState produced.
func decodeState(data []byte) (map[string]string, error) {
	kv := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("sim: snapshot line %q is not key=value", line)
		}
		kv[key] = value
	}
	return kv, nil
}

// resetTo makes a mirror hold exactly the first index entries of the
// committed log: what a node holds after installing a snapshot at index.
func (m *logMirror) resetTo(committed *logMirror, index uint64) {
	m.terms = append(m.terms[:0], committed.terms[:index]...)
	m.hashes = append(m.hashes[:0], committed.hashes[:index]...)
}
