package wal

// positionChunk is the number of entry positions held by one chunk of a
// positionIndex (40 KiB).
const positionChunk = 1024

// positionIndex is a sequence of entry positions stored in fixed-size
// chunks, so that appending never copies what is already stored (a single
// growing slice of a long log would copy and re-zero the whole index each
// time it doubles, while holding the writer) and dropping a prefix frees
// whole chunks. Chunks hold no pointers, so the garbage collector does not
// scan them.
type positionIndex struct {
	chunks [][]entryPosition
	head   int // index of the first position within chunks[0]
	length int
}

func (p *positionIndex) len() int { return p.length }

// at returns the i-th position, 0 <= i < len().
func (p *positionIndex) at(i int) *entryPosition {
	j := p.head + i
	return &p.chunks[j/positionChunk][j%positionChunk]
}

func (p *positionIndex) append(position entryPosition) {
	if n := len(p.chunks); n == 0 || len(p.chunks[n-1]) == positionChunk {
		p.chunks = append(p.chunks, make([]entryPosition, 0, positionChunk))
	}
	last := &p.chunks[len(p.chunks)-1]
	*last = append(*last, position)
	p.length++
}

// truncate keeps the first n positions, n <= len().
func (p *positionIndex) truncate(n int) {
	if n == p.length {
		return
	}
	if n == 0 {
		p.reset()
		return
	}
	end := p.head + n // end within the chunks, > 0
	keep := (end + positionChunk - 1) / positionChunk
	clear(p.chunks[keep:])
	p.chunks = p.chunks[:keep]
	p.chunks[keep-1] = p.chunks[keep-1][:end-(keep-1)*positionChunk]
	p.length = n
}

// dropFront removes the first n positions, n <= len().
func (p *positionIndex) dropFront(n int) {
	if n == p.length {
		p.reset()
		return
	}
	p.head += n
	p.length -= n
	whole := p.head / positionChunk
	clear(p.chunks[:whole])
	p.chunks = p.chunks[whole:]
	p.head -= whole * positionChunk
}

func (p *positionIndex) reset() { *p = positionIndex{} }
