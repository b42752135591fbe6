package loadgen

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// keyFormat turns key indices into keys: the index in decimal, left-padded
// with zeros to the key size (Validate checks that the size holds the
// largest index).
type keyFormat struct{ size int }

// key returns the key of index.
func (f keyFormat) key(index int) string {
	digits := strconv.Itoa(index)
	buffer := make([]byte, f.size)
	padding := f.size - len(digits)
	for i := range padding {
		buffer[i] = '0'
	}
	copy(buffer[padding:], digits)
	return string(buffer)
}

// keyChooser picks the index of the next key an operation uses. One
// chooser belongs to one worker goroutine; sequential choosers share the
// counter behind next.
type keyChooser struct {
	space  int
	next   *atomic.Uint64 // shared by all workers when keys are sequential; nil when random
	random *rand.Rand     // this worker's own generator when keys are random
}

// newKeyChooser returns worker's chooser. counter is shared by all workers
// of a run.
func newKeyChooser(config Config, worker int, counter *atomic.Uint64) keyChooser {
	if config.SequentialKeys {
		return keyChooser{space: config.KeySpace, next: counter}
	}
	return keyChooser{space: config.KeySpace, random: rand.New(rand.NewPCG(config.Seed, uint64(worker)))}
}

// choose returns a key index in [0, space).
func (c keyChooser) choose() int {
	if c.next != nil {
		return int((c.next.Add(1) - 1) % uint64(c.space))
	}
	return c.random.IntN(c.space)
}

// makeValue returns a value of size bytes: printable and not all one
// byte, so that no layer compresses it to nothing.
func makeValue(size int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	random := rand.New(rand.NewPCG(7, 11))
	buffer := make([]byte, size)
	for i := range buffer {
		buffer[i] = alphabet[random.IntN(len(alphabet))]
	}
	return string(buffer)
}
