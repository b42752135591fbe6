package vfs

import "math/rand/v2"

// SectorSize is the unit in which Crash keeps or loses unsynced data: a
// disk writes whole sectors, but in no promised order.
const SectorSize = 512

// Crash simulates a power failure. Every handle opened before it becomes
// unusable (ErrCrashed); the names in each directory return to what was
// made durable by its last SyncDir, and each file's content returns to its
// last Sync.
//
// If random is nil, nothing unsynced survives. Otherwise each unsynced
// sector-sized piece of each unsynced write survives independently with
// probability one half (and each unsynced truncation likewise), modelling a
// disk that persisted part of its cache, in any order, before power was
// lost: a torn write.
func (m *MemFS) Crash(random *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.generation++
	nodes := map[*memNode]bool{}
	for _, node := range m.live {
		nodes[node] = true
	}
	for _, node := range m.durable {
		nodes[node] = true
	}
	for node := range nodes {
		node.mu.Lock()
		data := append([]byte(nil), node.synced...)
		if random != nil {
			for _, change := range node.pending {
				data = change.applyTorn(data, random)
			}
		}
		node.data = data
		node.synced = append([]byte(nil), data...)
		node.pending = nil
		node.mu.Unlock()
	}
	m.live = make(map[string]*memNode, len(m.durable))
	for name, node := range m.durable {
		m.live[name] = node
	}
}

// applyTorn applies a random subset of the sectors touched by c.
func (c pendingChange) applyTorn(data []byte, random *rand.Rand) []byte {
	if c.truncate {
		if random.IntN(2) == 0 {
			return applyTruncate(data, c.offset)
		}
		return data
	}
	for start := int64(0); start < int64(len(c.data)); {
		// Pieces end at sector boundaries of the file, not of the buffer.
		end := (c.offset+start)/SectorSize*SectorSize + SectorSize - c.offset
		end = min(end, int64(len(c.data)))
		if random.IntN(2) == 0 {
			data = applyWrite(data, c.offset+start, c.data[start:end])
		}
		start = end
	}
	return data
}
